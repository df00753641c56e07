// engine.call: positional and named arguments, the value mapping, and invalid arguments refused before native work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CancelledError,
  DuplicateCallIdError,
  Engine,
  Float,
  InvalidArgumentError,
  ScriptError,
  UnknownFunctionError,
} from '../../lib/index';
import { engine, settle } from './helpers';

let e: Engine;
beforeAll(async () => {
  e = await engine();
});
afterAll(async () => {
  await e.close();
});

describe('call', () => {
  it('positional and named arguments', async () => {
    expect(await e.call('add', [40, 2])).toBe(42);
    expect(await e.call('add', { b: 2, a: 40 })).toBe(42);
    expect(await e.call('quick')).toBe(42);
    expect(await e.call('quick', [])).toBe(42);
    expect(await e.call('quick', {})).toBe(42);
  });

  it('maps values both ways', async () => {
    expect(await e.call('echo_s', ['héllo "\n" ☃'])).toBe('héllo "\n" ☃');
    expect(await e.call('echo_s', [''])).toBe('');
    expect(await e.call('echo_b', [true])).toBe(true);
    expect(await e.call('echo_f', [2.5])).toBe(2.5);
    expect(await e.call('echo_f', [new Float(2)])).toBe(2);
    expect(await e.call('half', [new Float(3)])).toBe(1.5);
    expect(Number.isNaN(await e.call('echo_f', [NaN]))).toBe(true);
    expect(await e.call('echo_f', [-Infinity])).toBe(-Infinity);
    expect(await e.call('echo_ints', [[1, 2, 3]])).toEqual([1, 2, 3]);
    expect(await e.call('echo_ints', [[]])).toEqual([]);
    expect(await e.call('echo_ints', [[1n, -(2n ** 63n)]])).toEqual([1, -(2n ** 63n)]);
    expect(await e.call('echo_map', [{ b: 1, a: 2 }])).toEqual({ b: 1, a: 2 });
    expect(Object.keys((await e.call('echo_map', [{ b: 1, a: 2 }])) as object)).toEqual(['b', 'a']);
    const proto = (await e.call('echo_map', [JSON.parse('{"__proto__": 5}')])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value).toBe(5);
    expect(await e.call('echo_map', [Object.assign(Object.create(null), { k: 1 })])).toEqual({ k: 1 });
    expect(await e.call('echo_nested', [{ x: [1], y: [] }])).toEqual({ x: [1], y: [] });
    expect(await e.call('echo_opt', [null])).toBe(null);
    expect(await e.call('echo_opt', [undefined])).toBe(null);
    expect(await e.call('echo_opt', [7])).toBe(7);
    expect(await e.call('big')).toBe(2n ** 63n - 1n);
    expect(await e.call('add', [2 ** 53, 1])).toBe(2n ** 53n + 1n);
    expect(await e.call('add', [2 ** 52, 1])).toBe(2 ** 52 + 1);
  });

  it('any number of arguments crosses in order (0 to 20, positional and named)', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const source = [1, 3, 9, 17, 20]
      .map((n) => {
        const ps = names.slice(0, n);
        // Weighted sum: a swapped pair of arguments changes the result.
        const sum = ps.map((p, i) => `${p} * ${i + 1}`).join(' + ');
        return `function w${n}(${ps.map((p) => `${p}: int`).join(', ')}) -> int { ${sum} }`;
      })
      .join('\n');
    const many = await Engine.fromSource(source, { workerThreads: 1 });
    try {
      for (const n of [1, 3, 9, 17, 20]) {
        const args = Array.from({ length: n }, (_, i) => 100 - i);
        const expected = args.reduce((acc, a, i) => acc + a * (i + 1), 0);
        expect(await many.call(`w${n}`, args), `w${n}`).toBe(expected);
        const named = Object.fromEntries(args.map((a, i) => [`p${i}`, a]).reverse());
        expect(await many.call(`w${n}`, named), `w${n} named`).toBe(expected);
      }
      await expect(many.call('w20', Array.from({ length: 19 }, () => 1))).rejects.toBeInstanceOf(InvalidArgumentError);
      const wrongType = await settle(many.call('w17', [...Array.from({ length: 16 }, () => 1), 'x']));
      expect(wrongType.error).toBeInstanceOf(InvalidArgumentError);
      expect(wrongType.error.message).toContain("'p16'");
      const cannotCross = await settle(many.call('w17', [...Array.from({ length: 16 }, () => 1), () => 1]));
      expect(cannotCross.error).toBeInstanceOf(InvalidArgumentError);
      expect(cannotCross.error.message).toContain('argument 16');
      expect(many.liveCalls).toBe(0);
    } finally {
      await many.close();
    }
  });

  it('script errors reject with ScriptError, kind and script stack', async () => {
    const { error } = await settle(e.call('outer', ['it broke']));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.code).toBe('ERR_BRAKE_SCRIPT_ERROR');
    expect(error.message).toContain('it broke');
    expect(error.kind).toBe('panic');
    expect(error.frames.map((f: { function: string }) => f.function)).toEqual(['fail', 'outer']);
    expect(error.frames[0].line).toBeGreaterThan(0);
  });

  it('wrong JS types reject with TypeError', async () => {
    await expect(e.call(42 as never)).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', 'x' as never)).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', new Map() as never)).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', [1, 2], null as never)).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', [1, 2], { signal: {} as never })).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', [1, 2], { callId: '1' as never })).rejects.toBeInstanceOf(TypeError);
    await expect(e.call('add', [1, 2], { timeoutMs: '5' as never })).rejects.toBeInstanceOf(TypeError);
    expect(() => e.cancel('1' as never)).toThrow(TypeError);
  });

  it('bad ids and options reject with InvalidArgumentError', async () => {
    for (const callId of [0, -1, 1.5, 2 ** 53, NaN, 0n, -1n, 2n ** 64n]) {
      const { error } = await settle(e.call('add', [1, 2], { callId }));
      expect(error, String(callId)).toBeInstanceOf(InvalidArgumentError);
    }
    for (const timeoutMs of [-1, NaN, Infinity]) {
      await expect(e.call('add', [1, 2], { timeoutMs })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(() => e.cancel(0)).toThrow(InvalidArgumentError);
    expect(() => e.cancel(-5n)).toThrow(InvalidArgumentError);
    expect(e.cancel(2n ** 64n - 1n)).toBe(false);
  });

  it('values that cannot cross reject with InvalidArgumentError before native work', async () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const cyclicObj: Record<string, unknown> = {};
    cyclicObj.self = cyclicObj;
    class Point {
      x = 1;
    }
    const bad: unknown[] = [
      () => 1,
      Symbol('s'),
      new Point(),
      new Date(),
      new Map(),
      new Uint8Array(2),
      cyclic,
      { self: cyclicObj },
      2n ** 63n,
      -(2n ** 63n) - 1n,
    ];
    for (const [i, value] of bad.entries()) {
      const { error } = await settle(e.call('echo_ints', [value], { callId: 777 }));
      expect(error, `value ${i}`).toBeInstanceOf(InvalidArgumentError);
    }
    // Nothing started: the id is free and nothing is live.
    expect(e.liveCalls).toBe(0);
    expect(await e.call('add', [1, 1], { callId: 777 })).toBe(2);
    // On a fresh engine (no free slots yet), calls after refused starts
    // still settle the right way, values and failures alike.
    const fresh = await engine();
    try {
      for (let i = 0; i < 3; i++) await expect(fresh.call('echo_ints', [() => 1])).rejects.toBeInstanceOf(InvalidArgumentError);
      // Handlers attached before the cancels: the calls sit on both workers,
      // whose cancellations arrive in separate batches, so awaiting them one
      // by one would leave a later batch's rejections unhandled for a turn.
      const after = Array.from({ length: 6 }, (_, i) => settle(fresh.call('nap', [10_000], { callId: 900 + i })));
      expect(await fresh.call('add', [2, 3])).toBe(5);
      for (let i = 0; i < 6; i++) expect(fresh.cancel(900 + i)).toBe(true);
      for (const [i, p] of after.entries()) {
        const { error } = await p;
        expect(error, `call ${i}`).toBeInstanceOf(CancelledError);
        expect(error.callId).toBe(900 + i);
      }
    } finally {
      await fresh.close();
    }
  });

  it('arity, types and names are checked', async () => {
    await expect(e.call('add', [1])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(e.call('add', [1, 'x'])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(e.call('add', { a: 1 })).rejects.toThrow(/missing argument 'b'/);
    await expect(e.call('add', { a: 1, b: 2, c: 3 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const { error } = await settle(e.call('nope', []));
    expect(error).toBeInstanceOf(UnknownFunctionError);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe('ERR_BRAKE_UNKNOWN_FUNCTION');
    expect(error.message).toContain('nope');
    await expect(e.call('nope', {})).rejects.toBeInstanceOf(UnknownFunctionError);
  });

  it('ids: number and bigint name the same call; assigned ids never collide with small user ids', async () => {
    const p = e.call('nap', [300], { callId: 5n });
    const { error } = await settle(e.call('quick', [], { callId: 5 }));
    expect(error).toBeInstanceOf(DuplicateCallIdError);
    expect(e.cancel(5)).toBe(true);
    await expect(p).rejects.toMatchObject({ origin: 'cancel', callId: 5 });
    const big = 2n ** 64n - 1n;
    const q = e.call('nap', [50], { callId: big });
    expect(e.cancel(big)).toBe(true);
    await expect(q).rejects.toMatchObject({ callId: big });
  });
});
