// `brake generate`: typed TypeScript for a project's functions. A project of
// two files compiles as one program; the generated module typechecks
// against a correct use and refuses wrong argument and result types (tsc
// run on both); it runs (createEngine, createClient); and a broken project's
// diagnostics name the file and line they are in.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'dist', 'cli', 'brake.js');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

// Inside the package (build/ is ignored by git), so that `import 'brake'`
// resolves to this package through its exports, as it would for a user.
let dir: string;
beforeAll(() => {
  mkdirSync(path.join(root, 'build'), { recursive: true });
  dir = mkdtempSync(path.join(root, 'build', 'generate-test-'));
  mkdirSync(path.join(dir, 'baml_src'));
  writeFileSync(
    path.join(dir, 'baml_src', 'types.baml'),
    `class Person {
  name string @description("the full name")
  age int?
  mood Mood
  tags map<string, float[]>
}
enum Mood {
  Happy
  Sad @alias("down")
}
type Json = int | string | Json[] | map<string, Json>
`,
  );
  writeFileSync(
    path.join(dir, 'baml_src', 'functions.baml'),
    `function greet(p: Person, times: int) -> string {
  let s = "";
  for (let i = 0; i < times; i += 1) { s = s + p.name; }
  s
}
function pick(x: "a" | "b" | 1) -> Person[] { [] }
function raw(j: Json) -> Json? { j }
function Extract(text: string) -> Person {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
`,
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const TSC_FLAGS = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', '--skipLibCheck', '--types', 'node'];

describe('brake generate', () => {
  it('writes a typed module for a two-file project: types, a client, the source', async () => {
    const r = await run(process.execPath, [bin, 'generate', 'baml_src', '--output', 'client'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('wrote client/index.ts (4 functions) from baml_src/functions.baml, baml_src/types.baml\n');
    const ts = readFileSync(path.join(dir, 'client', 'index.ts'), 'utf8');
    expect(ts).toContain('export interface Person {\n  /** the full name */\n  name: string;\n  age: number | null;\n  mood: Mood;\n  tags: { [key: string]: number[] };\n}');
    expect(ts).toContain('export type Mood = "Happy" | "Sad";');
    expect(ts).toContain('export type Json = number | string | Json[] | { [key: string]: Json };');
    expect(ts).toContain('  greet(p: Person, times: number, options?: CallOptions): Promise<string>;');
    expect(ts).toContain('  pick(x: "a" | "b" | 1, options?: CallOptions): Promise<Person[]>;');
    expect(ts).toContain('  raw(j: Json, options?: CallOptions): Promise<Json | null>;');
    expect(ts).toContain('  /** (text: string) -> Person (an LLM function) */');
    expect(ts).not.toContain('interface image'); // the runtime's own classes stay out
  });

  it('typechecks a correct use, and runs it', async () => {
    writeFileSync(
      path.join(dir, 'good.mts'),
      `import { createClient, createEngine, type Person, type Json } from './client/index';
const engine = await createEngine();
const b = createClient(engine);
const p: Person = { name: 'Ada', age: null, mood: 'Sad', tags: { x: [1.5] } };
const s: string = await b.greet(p, 2, { timeoutMs: 1000 });
const people: Person[] = await b.pick('a');
const j: Json | null = await b.raw([1, 'x', { k: [2] }]);
console.log(s, people.length, JSON.stringify(j));
await engine.close();
`,
    );
    const types = await run(process.execPath, [tsc, ...TSC_FLAGS, 'good.mts'], dir);
    expect(types.stdout + types.stderr).toBe('');
    expect(types.code).toBe(0);
    const ran = await run(tsx, ['good.mts'], dir);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toBe('AdaAda 0 [1,"x",{"k":[2]}]\n');
  });

  it('refuses wrong argument and result types at compile time', async () => {
    writeFileSync(
      path.join(dir, 'bad.mts'),
      `import { createClient, createEngine } from './client/index';
const b = createClient(await createEngine());
await b.greet('not a person', 2);
const n: number = await b.greet({ name: 'A', age: 1, mood: 'Sad', tags: {} }, 1);
await b.pick('c');
await b.greet({ name: 'A', age: 1, mood: 'Angry', tags: {} }, 1);
`,
    );
    const r = await run(process.execPath, [tsc, ...TSC_FLAGS, 'bad.mts'], dir);
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/bad\.mts\(3,15\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'Person'/);
    expect(out).toMatch(/bad\.mts\(4,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(out).toMatch(/bad\.mts\(5,14\): error TS2345: Argument of type '"c"'/);
    expect(out).toMatch(/bad\.mts\(6,\d+\): error TS2322: Type '"Angry"' is not assignable to type 'Mood'/);
  });

  it('names the file and line of each error in a broken project', async () => {
    const broken = mkdtempSync(path.join(dir, 'broken-'));
    writeFileSync(path.join(broken, 'a.baml'), 'class A {\n  x int\n}\n');
    writeFileSync(path.join(broken, 'b.baml'), 'function f() -> A {\n  A { x: "no" }\n}\n');
    const r = await run(process.execPath, [bin, 'generate', broken, '--output', path.join(broken, 'out')], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${path.join(broken, 'b.baml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: error: `));
    const check = await run(process.execPath, [bin, 'check', broken], dir);
    expect(check.stdout).toContain(`${path.join(broken, 'b.baml')}:2:`);
    expect((await run(process.execPath, [bin, 'generate', 'baml_src'], dir)).code).toBe(2); // no --output
  });
});
