// Memory limits through the TypeScript API (callMemoryLimit,
// engineMemoryLimit): a script that allocates without bound fails alone with
// ScriptError 'out_of_memory' naming the limit, while other calls on the same
// engine go on. The native suite (memory_limit_test) covers every pattern
// and the resident-memory bound.
import { describe, expect, it } from 'vitest';

import { Engine, InvalidArgumentError, ScriptError } from '../../lib/index';
import { settle } from './helpers';

const SOURCE = `
function doubling() -> int { let s = "x"; while (true) { s = s + s; } 0 }
function pushes() -> int { let a = []; while (true) { a.push("item" + "s"); } 0 }
function echo(s: string) -> int { s.length() }
function small() -> int { 7 }
`;

describe('memory limits', () => {
  it('a runaway call fails with out_of_memory naming the limit; the others go on', async () => {
    await using engine = await Engine.fromSource(SOURCE, { workerThreads: 2, callMemoryLimit: 16 << 20 });
    const hostile = [settle(engine.call('doubling')), settle(engine.call('pushes'))];
    expect(await engine.call('small')).toBe(7);
    for (const { error } of await Promise.all(hostile)) {
      expect(error).toBeInstanceOf(ScriptError);
      expect(error.kind).toBe('out_of_memory');
      expect(error.message).toContain("the call's memory limit (16777216 bytes)");
    }
    expect(engine.liveCalls).toBe(0);
  });

  it('the engine limit holds calls that each fit their own', async () => {
    await using engine = await Engine.fromSource(SOURCE, {
      workerThreads: 2,
      callMemoryLimit: 64 << 20,
      engineMemoryLimit: 48 << 20,
    });
    const results = await Promise.all([1, 2, 3, 4].map(() => settle(engine.call('pushes'))));
    const messages = results.map(({ error }) => (error as ScriptError).message);
    expect(results.every(({ error }) => error instanceof ScriptError && error.kind === 'out_of_memory')).toBe(true);
    expect(messages.some((m) => m.includes("the engine's memory limit (50331648 bytes)"))).toBe(true);
    expect(await engine.call('small')).toBe(7);
  });

  it('arguments beyond the call limit are refused before the call starts', async () => {
    await using engine = await Engine.fromSource(SOURCE, { callMemoryLimit: 1 << 20 });
    const { error } = await settle(engine.call('echo', ['x'.repeat(2 << 20)]));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain('memory limit');
    expect(await engine.call('echo', ['x'.repeat(1000)])).toBe(1000);
    expect(engine.liveCalls).toBe(0);
  });

  it('0 is unlimited; bad values are refused', async () => {
    await using unlimited = await Engine.fromSource(SOURCE, { callMemoryLimit: 0, engineMemoryLimit: 0 });
    expect(await unlimited.call('echo', ['x'.repeat(300 << 20)])).toBe(300 << 20);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) {
      await expect(Engine.fromSource(SOURCE, { callMemoryLimit: bad })).rejects.toThrow(InvalidArgumentError);
      await expect(Engine.fromSource(SOURCE, { engineMemoryLimit: bad })).rejects.toThrow(
        /options.engineMemoryLimit must be a whole number of bytes >= 0/,
      );
    }
    await expect(Engine.fromSource(SOURCE, { callMemoryLimit: '1' as never })).rejects.toThrow(TypeError);
  });
});
