// Values at the JS <-> native boundary: special floats, the limits shared
// with the C ABI, and results no JS value can hold. Every refusal is an
// InvalidArgumentError rejection (never a synchronous throw) that leaves no
// live call behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine, Float, InvalidArgumentError, ScriptError } from '../../lib/index';
import { LIMITS, native } from '../../lib/native';
import { settle } from './helpers';

const SOURCE = `
class P {
  x float
  ys float[]
}
function id(x: float) -> float { x }
function id_int(x: int) -> int { x }
function id_num(x: int | float) -> int | float { x }
function id_floats(xs: float[]) -> float[] { xs }
function id_fmap(m: map<string, float>) -> map<string, float> { m }
function id_p(p: P) -> P { p }
function specials() -> float[] { [1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0, -0.0, 0.0] }
function in_class() -> P { P { x: -0.0, ys: [1.0 / 0.0, 0.0 / 0.0, -1.0 / 0.0] } }
function in_map() -> map<string, float[]> { {"inf": [1.0 / 0.0], "nan": [0.0 / 0.0], "nz": [-0.0]} }
function echo_s(s: string) -> string { s }
function echo_ints(xs: int[]) -> int[] { xs }
function echo_opts(xs: (int | null)[]) -> (int | null)[] { xs }
function echo_map(m: map<string, int>) -> map<string, int> { m }
function echo_maps(m: map<string, map<string, int>>) -> map<string, map<string, int>> { m }
function quick() -> int { 42 }
function nap(ms: int) -> int {
  baml.sys.sleep(ms);
  ms
}
function down(n: int) -> int { if (n == 0) { 0 } else { down(n - 1) + 1 } }
function huge() -> string {
  let s = "x";
  for (let i = 0; i < 29; i += 1) { s = s + s; }
  s + "y"
}
function wide() -> string {
  let s = "é";
  for (let i = 0; i < 28; i += 1) { s = s + s; }
  s
}
function huge_panic() -> int {
  let s = "x";
  for (let i = 0; i < 29; i += 1) { s = s + s; }
  baml.sys.panic(s);
  0
}
`;

let e: Engine;
beforeAll(async () => {
  e = await Engine.fromSource(SOURCE, { workerThreads: 2 });
});
afterAll(async () => {
  await e.close();
});

// Starts a call that must be refused: no synchronous throw, an
// InvalidArgumentError matching `message`, nothing live afterwards.
async function refused(start: () => Promise<unknown>, message: RegExp, engine: Engine = e): Promise<any> {
  let p!: Promise<unknown>;
  expect(() => {
    p = start();
  }).not.toThrow();
  const { error, value } = await settle(p);
  expect(value).toBeUndefined();
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(error.code).toBe('ERR_BRAKE_INVALID_ARGUMENT');
  expect(error.message).toMatch(message);
  expect(engine.liveCalls).toBe(0);
  return error;
}

async function stillWorks(engine: Engine = e): Promise<void> {
  expect(await engine.call('quick')).toBe(42);
  expect(engine.liveCalls).toBe(0);
}

const SPECIALS = [Infinity, -Infinity, NaN, -0];

describe('floats round-trip exactly', () => {
  it('Infinity, -Infinity, NaN and -0 through a float parameter', async () => {
    for (const x of SPECIALS) {
      expect(Object.is(await e.call('id', [x]), x), String(x)).toBe(true);
      expect(Object.is(await e.call('id', { x }), x), `named ${x}`).toBe(true);
      expect(Object.is(await e.call('id', [new Float(x)]), x), `Float(${x})`).toBe(true);
    }
    expect(Object.is(await e.call('id', [0]), 0)).toBe(true);
  });

  it('nested in arrays, maps and class instances', async () => {
    const back = (await e.call('id_floats', [SPECIALS])) as number[];
    expect(back.length).toBe(4);
    back.forEach((x, i) => expect(Object.is(x, SPECIALS[i]), String(SPECIALS[i])).toBe(true));
    const m = (await e.call('id_fmap', [{ a: Infinity, b: -Infinity, c: NaN, d: -0 }])) as Record<string, number>;
    expect(Object.is(m.a, Infinity) && Object.is(m.b, -Infinity) && Object.is(m.c, NaN) && Object.is(m.d, -0)).toBe(
      true,
    );
    const p = (await e.call('id_p', [{ x: -0, ys: SPECIALS }])) as { x: number; ys: number[] };
    expect(Object.is(p.x, -0)).toBe(true);
    p.ys.forEach((x, i) => expect(Object.is(x, SPECIALS[i]), `field ${SPECIALS[i]}`).toBe(true));
  });

  it('computed by the script: 1.0 / 0.0, 0.0 / 0.0, -0.0', async () => {
    const xs = (await e.call('specials')) as number[];
    expect(xs.length).toBe(5);
    [Infinity, -Infinity, NaN, -0, 0].forEach((want, i) => expect(Object.is(xs[i], want), String(want)).toBe(true));
    const p = (await e.call('in_class')) as { x: number; ys: number[] };
    expect(Object.is(p.x, -0)).toBe(true);
    expect(p.ys).toEqual([Infinity, NaN, -Infinity]);
    const m = (await e.call('in_map')) as Record<string, number[]>;
    expect(m.inf).toEqual([Infinity]);
    expect(Number.isNaN(m.nan[0])).toBe(true);
    expect(Object.is(m.nz[0], -0)).toBe(true);
  });

  it('-0 is 0 where an int is declared and the float -0 in int | float', async () => {
    expect(Object.is(await e.call('id_int', [-0]), 0)).toBe(true);
    expect(await e.call('echo_ints', [[-0, 1]])).toEqual([0, 1]);
    expect(Object.is(await e.call('id_num', [-0]), -0)).toBe(true);
    expect(Object.is(await e.call('id_num', [0]), 0)).toBe(true);
    // Other floats are still not ints.
    await refused(() => e.call('id_int', [0.5]), /expected int, got float/);
    await refused(() => e.call('id_int', [Infinity]), /expected int, got float/);
  });
});

describe('limits shared with the C ABI', () => {
  it('the addon reports brake.h limits equal to lib', () => {
    expect(native().limits).toEqual(LIMITS);
    expect(LIMITS).toEqual({ maxWorkerThreads: 256, maxCallDepth: 100_000, maxTimeoutMs: 365 * 24 * 3600 * 1000 });
  });

  it('timeoutMs above 365 days is refused, not taken as "none"', async () => {
    for (const timeoutMs of [LIMITS.maxTimeoutMs + 1, LIMITS.maxTimeoutMs + 0.5, 1e300, 2 ** 64, Infinity]) {
      await refused(
        () => e.call('quick', [], { timeoutMs }),
        /^options\.timeoutMs must be a number from 0 \(no deadline\) to 31536000000 \(365 days\)$/,
      );
    }
    expect(await e.call('quick', [], { timeoutMs: LIMITS.maxTimeoutMs })).toBe(42);
    expect(await e.call('quick', [], { timeoutMs: LIMITS.maxTimeoutMs - 0.5 })).toBe(42);
    // The addon itself refuses it too, with the same words.
    const addon = native();
    const program = addon.compile(SOURCE, 'raw.baml');
    const raw = new addon.Engine(
      program as never,
      { workerThreads: 1, maxCallDepth: 0 },
      () => {},
      new Int32Array(4096),
      new Float64Array(2048),
    );
    try {
      expect(() => raw.start(1, 0, 'quick', 1e300, undefined)).toThrow(
        /^options\.timeoutMs must be a number from 0 \(no deadline\) to 31536000000 \(365 days\)$/,
      );
      expect(raw.liveCalls()).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('workerThreads and maxCallDepth: the maximum works, one more is refused by TS and by the addon alike', async () => {
    const widest = await Engine.fromSource(SOURCE, { workerThreads: LIMITS.maxWorkerThreads });
    expect(await widest.call('quick')).toBe(42);
    await widest.close();
    const deepest = await Engine.fromSource(SOURCE, { workerThreads: 1, maxCallDepth: LIMITS.maxCallDepth });
    // maxCallDepth frames: down(n) uses n + 1 of them.
    expect(await deepest.call('down', [LIMITS.maxCallDepth - 1])).toBe(LIMITS.maxCallDepth - 1);
    const { error } = await settle(deepest.call('down', [LIMITS.maxCallDepth]));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.kind).toBe('stack_overflow');
    await deepest.close();

    const cases: Array<[Record<string, number>, string]> = [
      [{ workerThreads: 257 }, 'options.workerThreads must be an integer from 0 (one per core) to 256'],
      [{ workerThreads: 2 ** 32 + 1 }, 'options.workerThreads must be an integer from 0 (one per core) to 256'],
      [{ maxCallDepth: 100_001 }, 'options.maxCallDepth must be an integer from 0 (default 1000) to 100000'],
      [{ maxCallDepth: 1_000_000 }, 'options.maxCallDepth must be an integer from 0 (default 1000) to 100000'],
    ];
    const addon = native();
    const program = addon.compile(SOURCE, 'raw.baml');
    for (const [options, words] of cases) {
      const { error: ts } = await settle(Engine.fromSource(SOURCE, options));
      expect(ts, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError);
      expect(ts.message).toBe(words);
      const raw = () =>
        new addon.Engine(
          program as never,
          { workerThreads: 0, maxCallDepth: 0, ...options },
          () => {},
          new Int32Array(4096),
          new Float64Array(2048),
        );
      expect(raw, JSON.stringify(options)).toThrow(InvalidArgumentError);
      expect(raw).toThrow(words);
    }
  });
});

describe('results no JS value can hold', () => {
  it('a string longer than V8 allows rejects with ScriptError value_too_large; the engine goes on', async () => {
    const { error, value } = await settle(e.call('huge'));
    expect(value).toBeUndefined();
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.code).toBe('ERR_BRAKE_SCRIPT_ERROR');
    expect(error.kind).toBe('value_too_large');
    expect(error.message).toMatch(/536870913 characters .*V8's string limit of 2\^29-24 \(536870888\)/);
    expect(e.liveCalls).toBe(0);
    await stillWorks();
    expect(await e.call('nap', [1])).toBe(1);
  }, 120_000);

  it('a string within the limit in characters but not in UTF-8 bytes still arrives', async () => {
    // 2^28 characters, 2^29 bytes: more bytes than napi_create_string_utf8 takes.
    const s = (await e.call('wide')) as string;
    expect(s.length).toBe(2 ** 28);
    expect(s.startsWith('éé') && s.endsWith('éé')).toBe(true);
    expect(s.indexOf('e')).toBe(-1);
  }, 120_000);

  it('a huge failure message is cut, not a crash', async () => {
    const { error } = await settle(e.call('huge_panic'));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.kind).toBe('panic');
    expect(error.message.length).toBeLessThan(2 ** 21);
    expect(error.message).toMatch(/\.\.\. \(cut; \d+ bytes in all\)$/);
    await stillWorks();
  }, 120_000);
});
