// Engine creation, options, compile errors, close and asyncDispose.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { CompileError, Engine, EngineClosedError, InvalidArgumentError, Program } from '../../lib/index';
import { PROGRAM, engine, settle } from './helpers';

describe('engine', () => {
  it('fromSource compiles and lists functions with their parameters', async () => {
    const e = await engine();
    expect(e.functions.get('add')).toEqual(['a', 'b']);
    expect(e.functions.get('quick')).toEqual([]);
    expect(await e.call('add', [2, 3])).toBe(5);
    await e.close();
  });

  it('fromFile reads a file; diagnostics name it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'brake-'));
    const good = path.join(dir, 'good.baml');
    writeFileSync(good, PROGRAM);
    const e = await Engine.fromFile(good, { workerThreads: 1 });
    expect(await e.call('quick')).toBe(42);
    await e.close();
    const bad = path.join(dir, 'bad.baml');
    writeFileSync(bad, 'function f() -> int {\n  let x: int = "s";\n  x\n}\n');
    const { error } = await settle(Engine.fromFile(bad));
    expect(error).toBeInstanceOf(CompileError);
    expect(error.diagnostics[0].file).toBe(bad);
    await expect(Engine.fromFile(path.join(dir, 'missing.baml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('CompileError carries every diagnostic, not just the first', async () => {
    const src = 'function a() -> int {\n  "s"\n}\nfunction b() -> string {\n  1\n}\nfunction c() -> int {\n  undefined_name\n}\n';
    const { error } = await settle(Engine.fromSource(src, { fileName: 'three.baml' }));
    expect(error).toBeInstanceOf(CompileError);
    expect(error.code).toBe('ERR_BRAKE_COMPILE_ERROR');
    expect(error.diagnostics.length).toBeGreaterThanOrEqual(3);
    expect(error.diagnostics.map((d: { line: number }) => d.line)).toEqual(expect.arrayContaining([2, 5, 8]));
    for (const d of error.diagnostics) {
      expect(d).toMatchObject({ file: 'three.baml', line: expect.any(Number), column: expect.any(Number) });
      expect(d.message.length).toBeGreaterThan(0);
    }
    await expect(Engine.fromSource('')).rejects.toBeInstanceOf(CompileError);
  });

  it('rejects bad options with TypeError or InvalidArgumentError', async () => {
    await expect(Engine.fromSource(42 as never)).rejects.toBeInstanceOf(TypeError);
    await expect(Engine.fromSource(PROGRAM, null as never)).rejects.toBeInstanceOf(TypeError);
    await expect(Engine.fromSource(PROGRAM, { workerThreads: '2' as never })).rejects.toBeInstanceOf(TypeError);
    await expect(Engine.fromSource(PROGRAM, { workerThreads: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Engine.fromSource(PROGRAM, { workerThreads: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Engine.fromSource(PROGRAM, { maxCallDepth: -3 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => new (Engine as any)(Symbol('x'), PROGRAM, {})).toThrow(TypeError);
  });

  it('worker count option: 1 worker still runs calls concurrently (sleeps do not block the worker)', async () => {
    const e = await engine({ workerThreads: 1 });
    const t0 = performance.now();
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => e.call('sleep_then', [100, i])));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(performance.now() - t0).toBeLessThan(1500);
    await e.close();
  });

  it('maxCallDepth limits recursion', async () => {
    const src = 'function r(n: int) -> int {\n  if (n == 0) { 0 } else { r(n - 1) + 1 }\n}\n';
    const shallow = await Engine.fromSource(src, { maxCallDepth: 50, workerThreads: 1 });
    expect(await shallow.call('r', [10])).toBe(10);
    const { error } = await settle(shallow.call('r', [200]));
    expect(error).toMatchObject({ name: 'ScriptError', kind: 'stack_overflow' });
    await shallow.close();
  });

  it('close is idempotent; later calls get EngineClosedError; cancel reports not found', async () => {
    const e = await engine();
    await e.close();
    await e.close();
    expect(e.closed).toBe(true);
    await expect(e.call('quick')).rejects.toBeInstanceOf(EngineClosedError);
    expect(e.cancel(1)).toBe(false);
    expect(e.liveCalls).toBe(0);
  });

  it('Symbol.asyncDispose closes the engine', async () => {
    const e = await engine();
    const p = e.call('nap', [10_000]);
    await e[Symbol.asyncDispose]();
    await expect(p).rejects.toMatchObject({ name: 'AbortError', origin: 'close' });
    expect(e.closed).toBe(true);
  });

  it('fromSource compiles off the JS thread: timers keep running during a big compile', async () => {
    // About 1 MB of source: tens of milliseconds or more of compiling.
    const fns = Array.from({ length: 8000 }, (_, i) => `function f${i}(a: int, b: string) -> int {\n  let s = b + "x";\n  if (a > ${i}) { a + s.length() } else { a * 2 }\n}`);
    const big = fns.join('\n');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    const e = await Engine.fromSource(big);
    const asyncMs = performance.now() - started;
    clearInterval(timer);
    expect(await e.call('f7', [10, 'ab'])).toBe(13);
    await e.close();
    // The timer ran through the compile (blocked, it could fire at most once).
    // (On this machine the compile takes about 85 ms and the timer fires
    // about 45 times; compiling on the JS thread, it could fire at most once.)
    expect(asyncMs).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThanOrEqual(5);
  });

  it('fromSourceSync compiles on the calling thread and throws CompileError there', async () => {
    const e = Engine.fromSourceSync('function add(a: int, b: int) -> int { a + b }');
    expect(await e.call('add', [2, 3])).toBe(5);
    await e.close();
    expect(() => Engine.fromSourceSync('function f( -> int { 1 }')).toThrow(CompileError);
  });

  it('one compiled program backs several engines; each binds its own host functions', async () => {
    const program = await Engine.compile('function twice(x: int) -> int { scale(x) }', { host: { scale: { signature: '(x: int) -> int' } } });
    expect(program).toBeInstanceOf(Program);
    const a = Engine.fromProgram(program, { host: { scale: { signature: '(x: int) -> int', fn: ([x]) => (x as number) * 2 } } });
    const b = Engine.fromProgram(program, { host: { scale: { signature: '(x: int) -> int', fn: ([x]) => (x as number) * 3 } } });
    expect(await Promise.all([a.call('twice', [5]), b.call('twice', [5])])).toEqual([10, 15]);
    await a.close();
    expect(await b.call('twice', [1])).toBe(3); // closing one engine leaves the program to the others
    await b.close();
    expect(() => Engine.fromProgram(program)).toThrow(/options\.host\.scale: the program declares it/);
    expect(() => Engine.fromProgram(program, { host: { scale: { signature: '(y: int) -> int', fn: () => 1 } } })).toThrow(InvalidArgumentError);
    const extra = { scale: { signature: '(x: int) -> int', fn: () => 1 }, more: { signature: '() -> int', fn: () => 1 } };
    expect(() => Engine.fromProgram(program, { host: extra })).toThrow(/options\.host\.more: the program was compiled without it/);
    expect(() => Engine.fromProgram({} as Program)).toThrow(TypeError);
    await expect(Engine.compile('function f( -> int { 1 }')).rejects.toBeInstanceOf(CompileError);
  });
});
