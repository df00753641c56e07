// Values at the JS <-> native boundary: special floats, Proxies, typed arrays,
// getters, __proto__ keys, frozen and sparse arrays, lone surrogates, the
// limits shared with the C ABI, and results no JS value can hold. Every
// refusal is an InvalidArgumentError rejection (never a synchronous throw)
// that leaves no live call behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BRAKE_CLASS, className, Engine, EngineClosedError, Float, InvalidArgumentError, ScriptError } from '../../lib/index';
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
function echo_strings(xs: string[]) -> string[] { xs }
class Box {
  label string
  items P[]
  tags map<string, P>
}
function boxes(nan: bool) -> map<string, Box[]> {
  let x = 1.5;
  if (nan) { x = 0.0 / 0.0; }
  {"a": [Box { label: "one \\"q\\"", items: [P { x: x, ys: [] }], tags: {"k": P { x: 2.0, ys: [x] }} }]}
}
function indexed() -> map<string, P> { {"10": P { x: 1.0, ys: [] }, "2": P { x: 2.0, ys: [] }, "b": P { x: 3.0, ys: [] }} }
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
  // The results over V8's limits need more than the default memory limits.
  e = await Engine.fromSource(SOURCE, { workerThreads: 2, callMemoryLimit: 0, engineMemoryLimit: 0 });
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

// Containers arrive built by JSON.parse (lib's fromJson) unless they hold
// what JSON cannot carry; both ways give the same values and class marks.
describe('container results', () => {
  const marks = (v: any): unknown => ({ cls: className(v), keys: Object.keys(v) });
  it('instances nested in maps and arrays keep their class name, non-enumerable, on either path', async () => {
    for (const nan of [false, true]) {
      const v = (await e.call('boxes', [nan])) as any;
      const box = v.a[0];
      expect(marks(box)).toEqual({ cls: 'Box', keys: ['label', 'items', 'tags'] });
      expect(box.label).toBe('one "q"');
      expect(className(box.items[0])).toBe('P');
      expect(className(box.tags.k)).toBe('P');
      expect(className(v)).toBeUndefined();
      expect(className(box.tags)).toBeUndefined();
      expect(Object.getOwnPropertyDescriptor(box, BRAKE_CLASS)).toMatchObject({ value: 'Box', enumerable: false, writable: false });
      expect(Number.isNaN(box.items[0].x)).toBe(nan);
      expect(JSON.stringify(box.tags.k)).toBe(nan ? '{"x":2,"ys":[null]}' : '{"x":2,"ys":[1.5]}');
    }
  });

  it('maps with array-index keys keep the class of each instance', async () => {
    const v = (await e.call('indexed')) as any;
    expect(Object.keys(v)).toEqual(['2', '10', 'b']);
    expect([v['2'].x, v['10'].x, v.b.x]).toEqual([2, 1, 3]);
    expect([className(v['2']), className(v['10']), className(v.b)]).toEqual(['P', 'P', 'P']);
  });

  it('strings with quotes, escapes, control characters and non-ASCII text round-trip', async () => {
    const xs = ['"', '\\', '\n\r\t', '\u0000\u0001\u001f', 'é漢字', '🎉 emoji', '\u2028\u2029', '</script>'];
    expect(await e.call('echo_strings', [xs])).toEqual(xs);
  });

  it('ints past 2^53 inside containers are bigints', async () => {
    expect(await e.call('echo_ints', [[1, 2n ** 60n, -(2n ** 55n)]])).toEqual([1, 2n ** 60n, -(2n ** 55n)]);
  });
});

describe('Proxies are refused before any trap runs', () => {
  it('an array Proxy and an object Proxy', async () => {
    await refused(() => e.call('echo_ints', [new Proxy([1, 2], {})]), /argument 0: a Proxy cannot be passed/);
    await refused(() => e.call('echo_map', [new Proxy({ a: 1 }, {})]), /a Proxy cannot be passed/);
    await refused(() => e.call('echo_maps', [{ inner: new Proxy({ a: 1 }, {}) }]), /key "inner": a Proxy/);
    await refused(() => e.call('echo_ints', [[1, new Proxy([2], {})]]), /element 1: a Proxy/);
    const { proxy, revoke } = Proxy.revocable({ a: 1 }, {});
    revoke();
    await refused(() => e.call('echo_map', [proxy]), /a Proxy cannot be passed/);
    await stillWorks();
  });

  it('traps that throw never run, crash or leave an exception pending', async () => {
    let trapped = 0;
    const trap = (): never => {
      trapped++;
      throw new Error('trap');
    };
    const hostile = new Proxy([1, 2], {
      get: trap,
      has: trap,
      ownKeys: trap,
      getOwnPropertyDescriptor: trap,
      getPrototypeOf: trap,
    });
    await refused(() => e.call('echo_ints', [hostile]), /a Proxy cannot be passed/);
    await refused(() => e.call('echo_map', [hostile]), /a Proxy cannot be passed/);
    expect(trapped).toBe(0);
    await stillWorks();
  });
});

describe('other objects', () => {
  it('typed arrays, ArrayBuffers, DataViews and Buffers are refused', async () => {
    for (const v of [
      new Int32Array([1, 2]),
      new Uint8Array(2),
      new Float64Array(1),
      new BigInt64Array(1),
      Buffer.from('ab'),
      new ArrayBuffer(8),
      new DataView(new ArrayBuffer(8)),
    ]) {
      await refused(() => e.call('echo_ints', [v]), /typed arrays, ArrayBuffers and DataViews cannot be passed/);
    }
    await stillWorks();
  });

  it('a getter is read; one that throws rejects with its exception as the cause', async () => {
    expect(
      await e.call('echo_map', [
        {
          get a() {
            return 1;
          },
        },
      ]),
    ).toEqual({ a: 1 });
    const boom = new Error('getter broke');
    const error = await refused(
      () =>
        e.call('echo_map', [
          {
            ok: 1,
            get bad(): number {
              throw boom;
            },
          },
        ]),
      /argument 0: key "bad": reading it threw/,
    );
    expect(error.cause).toBe(boom);
    const arr = [1, 2, 3];
    Object.defineProperty(arr, 1, {
      get() {
        throw 'not even an Error';
      },
    });
    const second = await refused(() => e.call('echo_ints', [arr]), /element 1: reading it threw/);
    expect(second.cause).toBe('not even an Error');
    // Nothing pending: the next calls (and their own refusals) are unaffected.
    await stillWorks();
    await refused(() => e.call('echo_ints', [[1, 'x']]), /element 1: expected int, got string/);
  });

  it('a getter that closes the engine: EngineClosedError, nothing started', async () => {
    const other = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    const { error } = await settle(
      other.call('echo_map', [
        {
          get a() {
            void other.close();
            return 1;
          },
        },
      ]),
    );
    expect(error).toBeInstanceOf(EngineClosedError);
    expect(other.liveCalls).toBe(0);
  });

  it('an own "__proto__" key is an ordinary key, both ways', async () => {
    const parsed = JSON.parse('{"__proto__": 1, "b": 2}');
    const back = (await e.call('echo_map', [parsed])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')).toMatchObject({ value: 1, enumerable: true });
    expect(Object.keys(back)).toEqual(['__proto__', 'b']);
    const nested = (await e.call('echo_maps', [{ m: JSON.parse('{"__proto__": 3}') }])) as any;
    expect(Object.getOwnPropertyDescriptor(nested.m, '__proto__')?.value).toBe(3);
    expect(Object.getPrototypeOf(nested.m)).toBe(Object.prototype);
    // A __proto__ literal sets the prototype: not a key, and a class prototype is refused.
    expect(await e.call('echo_map', [{ __proto__: null, a: 1 }])).toEqual({ a: 1 });
    await refused(() => e.call('echo_map', [{ __proto__: Array.prototype }]), /class instance/);
  });

  it('frozen, sealed and non-extensible arrays and objects cross as usual', async () => {
    expect(await e.call('echo_ints', [Object.freeze([1, 2])])).toEqual([1, 2]);
    expect(await e.call('echo_ints', [Object.seal([3])])).toEqual([3]);
    expect(await e.call('echo_ints', [Object.preventExtensions([4])])).toEqual([4]);
    expect(await e.call('echo_map', [Object.freeze({ a: 1 })])).toEqual({ a: 1 });
    expect(await e.call('echo_maps', [Object.freeze({ m: Object.freeze({ b: 2 }) })])).toEqual({ m: { b: 2 } });
  });
});

describe('sparse and huge arrays', () => {
  it('a hole is refused; an explicit undefined is null', async () => {
    // eslint-disable-next-line no-sparse-arrays
    await refused(() => e.call('echo_opts', [[1, , 3]]), /element 1 is a hole/);
    const trailing = [1];
    trailing.length = 3;
    await refused(() => e.call('echo_opts', [trailing]), /element 1 is a hole/);
    expect(await e.call('echo_opts', [[1, undefined, 3]])).toEqual([1, null, 3]);
    await stillWorks();
  });

  it('a huge sparse array is refused at once, without materialising it', async () => {
    const longest: number[] = [];
    longest.length = 2 ** 32 - 1;
    const t0 = performance.now();
    await refused(() => e.call('echo_ints', [longest]), /length 4294967295 is longer than the maximum of 16777216/);
    // Within the length limit: refused at its first hole, however long.
    const far: number[] = [];
    far[2 ** 24 - 1] = 1;
    await refused(() => e.call('echo_ints', [far]), /element 0 is a hole/);
    const mostlyDense = [1, 2, 3];
    mostlyDense[2 ** 24 - 1] = 4;
    await refused(() => e.call('echo_ints', [mostlyDense]), /element 3 is a hole/);
    const over = [0];
    over.length = 2 ** 24 + 1;
    await refused(() => e.call('echo_ints', [[over]]), /element 0: an array of length 16777217 is longer/);
    expect(performance.now() - t0).toBeLessThan(1000);
    await stillWorks();
  });
});

describe('strings near the addon\'s first read (255 bytes)', () => {
  it('cross whole whatever their characters\' widths', async () => {
    // A first read into a small buffer stops short of a character that does
    // not fit: such a string must be read again in full, never cut.
    for (const s of ['é'.repeat(126), 'é'.repeat(127), 'é'.repeat(128), 'a' + 'é'.repeat(127), '€'.repeat(85), 'x€'.repeat(64), '😀'.repeat(63), '😀'.repeat(64), 'ab😀'.repeat(50), 'a'.repeat(254), 'a'.repeat(255), 'a'.repeat(256)]) {
      expect(await e.call('echo_s', [s])).toBe(s);
      expect(await e.call('echo_map', [{ [s]: 1 }])).toEqual({ [s]: 1 });
    }
  });
});

describe('lone surrogates', () => {
  it('become U+FFFD in strings and keys; valid pairs are kept', async () => {
    expect(await e.call('echo_s', ['a\uD800b'])).toBe('a\uFFFDb');
    expect(await e.call('echo_s', ['\uDC00'])).toBe('\uFFFD');
    expect(await e.call('echo_s', ['x\uDE00\uD83D'])).toBe('x\uFFFD\uFFFD');
    expect(await e.call('echo_s', ['\uD83D\uDE00'])).toBe('\u{1F600}');
    expect(await e.call('echo_map', [{ '\uD800': 1 }])).toEqual({ '\uFFFD': 1 });
  });

  it('two keys that become the same are refused, not merged', async () => {
    await refused(() => e.call('echo_map', [{ '\uD800': 1, '\uDBFF': 2 }]), /two keys are the same/);
    await refused(() => e.call('echo_map', [{ '\uFFFD': 1, '\uDFFF': 2 }]), /two keys are the same/);
    await stillWorks();
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
      expect(() => raw.start(1, 0, 'quick', 1e300, undefined, undefined)).toThrow(
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
