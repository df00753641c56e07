// The cancellation matrix of the native core, again from JS, plus timeoutMs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, DuplicateCallIdError, Engine, TimeoutError } from '../../lib/index';
import { engine, settle, sleep } from './helpers';

let e: Engine;
beforeAll(async () => {
  e = await engine();
});
afterAll(async () => {
  await e.close();
});

describe('cancellation matrix', () => {
  it('cancel before start settles cancelled without running code (also with no await)', async () => {
    for (const fn of ['quick', 'nap', 'spin'] as const) {
      const ac = new AbortController();
      ac.abort();
      const args = fn === 'nap' ? [10_000] : [];
      const { error } = await settle(e.call(fn, args, { signal: ac.signal, callId: 11 }));
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.origin).toBe('signal');
      expect(e.liveCalls).toBe(0);
    }
  });

  it('cancel right after start (same tick) of a function with no await: value or cancelled, once', async () => {
    let cancelled = 0;
    for (let i = 0; i < 200; i++) {
      const p = e.call('quick', [], { callId: 1000 + i });
      expect(e.cancel(1000 + i)).toBe(true);
      const { value, error } = await settle(p);
      if (error) {
        expect(error).toBeInstanceOf(CancelledError);
        expect(error.origin).toBe('cancel');
        cancelled++;
      } else expect(value).toBe(42);
    }
    expect(cancelled).toBeGreaterThan(0);
  });

  it('cancel during a 10 s sleep settles in under 2 s', async () => {
    const p = e.call('nap', [10_000], { callId: 21 });
    await sleep(50);
    const t0 = performance.now();
    expect(e.cancel(21)).toBe(true);
    const { error } = await settle(p);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', origin: 'cancel', callId: 21 });
    expect(error).not.toBeInstanceOf(TimeoutError);
  });

  it('the error names the call: callId for small, assigned and above-2^53 ids, and for script errors', async () => {
    for (const callId of [22, 2 ** 52 + 7, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
      const p = e.call('nap', [10_000], { callId });
      expect(e.cancel(callId)).toBe(true);
      const { error } = await settle(p);
      expect(error, String(callId)).toBeInstanceOf(CancelledError);
      expect(error.callId, String(callId)).toBe(callId);
    }
    const ac = new AbortController();
    const auto = e.call('nap', [10_000], { signal: ac.signal });
    ac.abort();
    const { error } = await settle(auto);
    expect(typeof error.callId).toBe('number');
    expect(error.callId).toBeGreaterThanOrEqual(2 ** 52);
    const failed = await settle(e.call('outer', ['x'], { callId: 2n ** 63n }));
    expect(failed.error.callId).toBe(2n ** 63n);
  });

  it('selective cancel: the sibling completes', async () => {
    const a = e.call('sleep_then', [200, 1], { callId: 31 });
    const b = e.call('sleep_then', [200, 2], { callId: 32 });
    await sleep(20);
    e.cancel(31);
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    expect(await b).toBe(2);
  });

  it('cancel between sequential sleeps', async () => {
    const p = e.call('two_naps', [30, 10_000], { callId: 41 });
    await sleep(150);
    const t0 = performance.now();
    e.cancel(41);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a never-cancelled call completes', async () => {
    expect(await e.call('two_naps', [5, 5])).toBe(2);
    expect(await e.call('compute', [1000])).toBe(499500);
  });

  it('cancel three times is idempotent; the call settles once', async () => {
    const p = e.call('nap', [10_000], { callId: 51 });
    expect([e.cancel(51), e.cancel(51), e.cancel(51n)]).toEqual([true, true, true]);
    await expect(p).rejects.toMatchObject({ origin: 'cancel' });
    expect(e.cancel(51)).toBe(false);
  });

  it('baml.sys.cancellation_requested(): false normally, true once cancelled (cooperative loop stops)', async () => {
    expect(await e.call('requested')).toBe(false);
    const p = e.call('cooperative', [], { callId: 61 });
    await sleep(30);
    const t0 = performance.now();
    e.cancel(61);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a duplicate live id is rejected while the original still completes with its value', async () => {
    const original = e.call('sleep_then', [100, 7], { callId: 71 });
    const { error } = await settle(e.call('quick', [], { callId: 71 }));
    expect(error).toBeInstanceOf(DuplicateCallIdError);
    expect(error.code).toBe('ERR_BRAKE_DUPLICATE_CALL_ID');
    expect(await original).toBe(7);
    // Finished: the id may be reused.
    expect(await e.call('quick', [], { callId: 71 })).toBe(42);
  });

  it('cancel of an unknown or finished id reports not found', async () => {
    expect(e.cancel(123456)).toBe(false);
    await e.call('quick', [], { callId: 81 });
    expect(e.cancel(81)).toBe(false);
  });

  it('a while (true) {} call is cancelled promptly', async () => {
    const p = e.call('spin', [], { callId: 91 });
    await sleep(50);
    const t0 = performance.now();
    expect(e.cancel(91)).toBe(true);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('close with calls in flight: each rejects with origin close', async () => {
    const local = await engine();
    const calls = [
      local.call('nap', [10_000]),
      local.call('spin'),
      local.call('two_naps', [1, 10_000]),
      local.call('cooperative'),
    ];
    await sleep(30);
    const t0 = performance.now();
    await local.close();
    expect(performance.now() - t0).toBeLessThan(2000);
    for (const r of await Promise.allSettled(calls)) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.origin).toBe('close');
    }
    expect(local.liveCalls).toBe(0);
  });

  it('cancel racing completion: exactly one outcome per call, the right class', async () => {
    const n = 2000;
    const outcomes = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = 5000 + i;
        const p = settle(e.call('nap', [i % 3], { callId: id }));
        if (i % 2) await sleep(i % 4);
        e.cancel(id);
        return p;
      }),
    );
    for (const o of outcomes) {
      if (o.error) expect(o.error).toBeInstanceOf(CancelledError);
      else expect(typeof o.value).toBe('number');
    }
    expect(e.liveCalls).toBe(0);
  });
});

describe('timeoutMs', () => {
  it('the engine deadline rejects with TimeoutError (origin timeout)', async () => {
    const t0 = performance.now();
    const { error } = await settle(e.call('nap', [10_000], { timeoutMs: 50 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'ERR_BRAKE_TIMEOUT', origin: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(1000);
    const spin = await settle(e.call('spin', [], { timeoutMs: 30 }));
    expect(spin.error).toBeInstanceOf(TimeoutError);
  });

  it('a fractional timeoutMs is a deadline, rounded up (not "none")', async () => {
    const { error } = await settle(e.call('nap', [10_000], { timeoutMs: 0.5 }));
    expect(error).toBeInstanceOf(TimeoutError);
  });

  it('a call that finishes in time resolves; timeoutMs 0 means none', async () => {
    expect(await e.call('sleep_then', [10, 3], { timeoutMs: 5_000 })).toBe(3);
    expect(await e.call('sleep_then', [10, 4], { timeoutMs: 0 })).toBe(4);
  });
});
