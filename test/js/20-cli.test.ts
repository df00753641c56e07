// The `brake` command (lib/cli/brake.ts, run from dist/ as npm's bin runs
// it): run prints a result as JSON and takes arguments, Ctrl-C and
// --timeout stop the call with their exit codes, check prints every
// diagnostic with its source line and a caret (or JSON), functions lists
// signatures, and every misuse is one line on stderr with exit code 2.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'dist', 'cli', 'brake.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command to its end. */
function brake(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

let dir: string;
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'brake-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PROGRAM = `
class Person {
  name string
  age int?
}
enum Mood { Happy Sad }
function main() -> int { 42 }
function greet(p: Person, times: int) -> string {
  let s = "";
  for (let i = 0; i < times; i += 1) { s = s + "hi " + p.name + "! "; }
  s
}
function echo(m: map<string, int[]>, mood: Mood) -> map<string, int[]> { m }
function special() -> float[] { [1.0 / 0.0, 0.0 / 0.0, 2.5] }
function big() -> int { 9007199254740993 }
function who() -> string? { env.get("BRAKE_CLI_WHO") }
function spin() -> int { while (true) {} 0 }
function fails() -> int { baml.sys.panic("no\\nway") }
client<llm> Model {
  provider openai
  options { model "gpt-4o" api_key env.OPENAI_API_KEY }
}
function Extract(text: string) -> Person[] {
  client Model
  prompt #"{{ text }}"#
}
`;

describe('brake run', () => {
  it('prints the result as JSON; main by default; arguments by name or as JSON', async () => {
    const p = file('prog.baml', PROGRAM);
    expect(await brake(['run', p])).toEqual({ code: 0, stdout: '42\n', stderr: '' });
    const named = await brake(['run', p, 'greet', '--arg', 'p={"name": "Ada"}', '-a', 'times=2']);
    expect(named).toEqual({ code: 0, stdout: '"hi Ada! hi Ada! "\n', stderr: '' });
    const positional = await brake(['run', p, 'echo', '--args-json', '[{"a": [1, 2]}, "Sad"]']);
    expect(positional.stdout).toBe('{"a":[1,2]}\n');
    const pretty = await brake(['run', p, 'echo', '--args-json', '{"m": {"a": [1]}, "mood": "Happy"}', '--pretty']);
    expect(pretty.stdout).toBe('{\n  "a": [\n    1\n  ]\n}\n');
    // What JSON cannot hold prints exactly rather than as null or rounded.
    expect((await brake(['run', p, 'special'])).stdout).toBe('[Infinity,NaN,2.5]\n');
    expect((await brake(['run', p, 'big'])).stdout).toBe('9007199254740993\n');
    // The shell's environment is the program's.
    expect((await brake(['run', p, 'who'], { BRAKE_CLI_WHO: 'me' })).stdout).toBe('"me"\n');
  });

  it('--stream writes the reply as it arrives to stderr (a line per attempt), then the result', async () => {
    const mock = await startMockLlm();
    try {
      const p = file('stream.baml', `
retry_policy Again {
  max_retries 1
  strategy { type constant_delay delay_ms 1 }
}
client<llm> Local { provider openai-generic retry_policy Again options { base_url env.BRAKE_CLI_LLM model "cli" api_key "k" } }
function Tell(topic: string) -> string { client Local prompt #"{{ topic }}"# }`);
      // The first attempt is cut after its first word (a delta was shown: no retry), then one that works.
      mock.enqueue({ content: 'once upon a time', close: 'mid-body', chunkDelayMs: 20 }, { model: 'cli' });
      const cut = await brake(['run', p, 'Tell', '--arg', 'topic=x', '--stream'], { BRAKE_CLI_LLM: `${mock.url}/v1` });
      expect(cut.code).toBe(1);
      expect(cut.stdout).toBe('');
      expect(cut.stderr).toMatch(/^once [^\n]*\nbrake: LlmError: /);
      mock.enqueue({ content: 'once upon a time', chunkDelayMs: 5 }, { model: 'cli' });
      const ok = await brake(['run', p, 'Tell', '--arg', 'topic=x', '--stream'], { BRAKE_CLI_LLM: `${mock.url}/v1` });
      expect(ok).toEqual({ code: 0, stdout: '"once upon a time"\n', stderr: 'once upon a time\n' });
    } finally {
      await mock.close();
    }
  });

  it('baml.sys.shell runs only with --allow-shell', async () => {
    const p = file('shell.baml', 'function main() -> string { baml.sys.shell("echo from the shell") }');
    const off = await brake(['run', p]);
    expect(off.code).toBe(1);
    expect(off.stderr).toMatch(/^brake: ScriptError: baml.sys.shell is off/);
    expect(await brake(['run', p, '--allow-shell'])).toEqual({ code: 0, stdout: '"from the shell\\n"\n', stderr: '' });
  });

  it('a failed call, a timeout and a bad call are one line each, with their exit codes', async () => {
    const p = file('prog.baml', PROGRAM);
    const failed = await brake(['run', p, 'fails']);
    expect(failed).toEqual({ code: 1, stdout: '', stderr: 'brake: ScriptError: no way\n' });
    const started = performance.now();
    const timedOut = await brake(['run', p, 'spin', '--timeout', '100']);
    expect(timedOut).toEqual({ code: 124, stdout: '', stderr: 'brake: spin timed out after 100 ms\n' });
    expect(performance.now() - started).toBeLessThan(10_000);
    const unknown = await brake(['run', p, 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^brake: .*has no function nope; it has: main, greet, echo, special, big, who, spin, fails, Extract\n$/);
    const wrong = await brake(['run', p, 'greet', '--arg', 'times=x', '--arg', 'p={"name": "A"}']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^brake: InvalidArgumentError: .*times.*\n$/);
    for (const args of [
      ['run'],
      ['run', p, '--args-json', '{'],
      ['run', p, '--args-json', '3'],
      ['run', p, '--arg', 'novalue'],
      ['run', p, '--arg', 'a=1', '--args-json', '[]'],
      ['run', p, '--timeout', '-5'],
      ['run', p, 'main', 'extra'],
      ['run', p, '--bogus'],
      ['frob'],
    ]) {
      const r = await brake(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^brake: [^\n]+\n$/);
    }
    expect((await brake(['run', path.join(dir, 'missing.baml')])).stderr).toMatch(/^brake: cannot read .*missing\.baml: ENOENT\n$/);
  });

  it('prints the diagnostics of a file that does not compile', async () => {
    const r = await brake(['run', file('bad.baml', 'function main() -> int {\n  "no"\n}\n')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.baml:2:3: error: function 'main' returns int but its body has type string\n 2 \|   "no"\n   \|   \^\n$/);
  });

  const interrupted = (count: number): Promise<{ code: number | null; ms: number; stderr: string }> =>
    new Promise((resolve) => {
      const child: ChildProcess = spawn(process.execPath, [bin, 'run', file('spin.baml', PROGRAM), 'spin'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      // Once the call is running: the process has spent 0.3 s of CPU (the
      // spinning loop; starting takes far less), whatever the machine's speed.
      // (Linux's /proc: the suite runs on Linux.)
      const cpuTicks = (): number => {
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return Number(fields[11]) + Number(fields[12]); // utime + stime, in 1/100 s
      };
      let at = 0;
      child.on('exit', (code) => {
        clearInterval(poll);
        resolve({ code, ms: at ? performance.now() - at : -1, stderr });
      });
      const poll = setInterval(() => {
        let ticks = 0;
        try {
          ticks = cpuTicks();
        } catch {
          return; // gone: the exit handler reports it
        }
        if (ticks < 30 || at) return;
        at = performance.now();
        for (let i = 0; i < count; i++) child.kill('SIGINT');
      }, 20);
    });

  it('Ctrl-C cancels the call and exits 130; twice exits at once', async () => {
    const once = await interrupted(1);
    expect(once.ms).toBeGreaterThan(0); // interrupted while running, not before
    expect(once.code).toBe(130);
    expect(once.stderr).toBe('brake: spin cancelled\n');
    expect(once.ms).toBeLessThan(2000);
    const twice = await interrupted(2);
    expect(twice.code).toBe(130);
    expect(twice.ms).toBeLessThan(2000);
  });
});

describe('brake check', () => {
  it('prints every diagnostic with its line and a caret, and exits 1', async () => {
    const bad = file('check-bad.baml', 'function f() -> int {\n  let x: int = "a";\n\tlet y = nope;\n  x\n}\n');
    const good = file('check-good.baml', PROGRAM);
    const r = await brake(['check', bad, good]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        `${bad}:2:16: error: cannot assign string to 'x' of type int`,
        ' 2 |   let x: int = "a";',
        '   |                ^',
        `${bad}:3:10: error: undefined variable 'nope'`,
        ' 3 | \tlet y = nope;',
        '   | \t        ^',
        `${good}: ok (9 functions)`,
        '2 errors',
        '',
      ].join('\n'),
    );
    const json = await brake(['check', bad, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual([
      { file: bad, line: 2, column: 16, message: "cannot assign string to 'x' of type int" },
      { file: bad, line: 3, column: 10, message: "undefined variable 'nope'" },
    ]);
    expect(await brake(['check', good])).toEqual({ code: 0, stdout: `${good}: ok (9 functions)\n`, stderr: '' });
    expect((await brake(['check', good, '--json'])).stdout).toBe('[]\n');
    expect((await brake(['check'])).code).toBe(2);
  });
});

describe('brake functions', () => {
  it('lists signatures in source order, LLM functions marked; --json for tools', async () => {
    const p = file('fns.baml', PROGRAM);
    const r = await brake(['functions', p]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'function main() -> int',
      'function greet(p: Person, times: int) -> string',
      'function echo(m: map<string, int[]>, mood: Mood) -> map<string, int[]>',
      'function special() -> float[]',
      'function big() -> int',
      'function who() -> string?',
      'function spin() -> int',
      'function fails() -> int',
      'function Extract(text: string) -> Person[]   // LLM function',
      '',
    ]);
    const json = JSON.parse((await brake(['functions', p, '--json'])).stdout);
    expect(json[1]).toEqual({ name: 'greet', params: ['p', 'times'], signature: '(p: Person, times: int) -> string', llm: false });
    expect(json[8].llm).toBe(true);
  });
});

describe('the README\'s example', () => {
  it('runs as shown', async () => {
    const hello = path.join(root, 'examples', 'hello.baml');
    expect(await brake(['run', hello, 'greet', '--arg', 'name=Ada'])).toEqual({ code: 0, stdout: '"Hello, Ada!"\n', stderr: '' });
    expect((await brake(['functions', hello])).stdout).toBe(
      'function greet(name: string) -> string\nfunction Extract(text: string) -> Person   // LLM function\n',
    );
    const broken = file('broken.baml', 'function f() -> int {\n  let x: int = "a";\n  x\n}\n');
    const r = await brake(['check', broken]);
    expect(r.stdout).toBe(`${broken}:2:16: error: cannot assign string to 'x' of type int\n 2 |   let x: int = "a";\n   |                ^\n1 error\n`);
  });
});

describe('help', () => {
  it('the command and each subcommand explain themselves', async () => {
    const top = await brake(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('usage: brake <command>');
    for (const cmd of ['run', 'check', 'functions', 'generate']) {
      const r = await brake([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`usage: brake ${cmd}`);
    }
    const none = await brake([]);
    expect(none.code).toBe(2);
    expect((await brake(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
