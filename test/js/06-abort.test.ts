// AbortSignal: fail fast, one listener per signal however many calls share it, removed on every settle path, cause = reason.
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, TimeoutError } from '../../lib/index';
import { engine, settle, sleep } from './helpers';

let e: Engine;
beforeAll(async () => {
  e = await engine();
});
afterAll(async () => {
  await e.close();
});

const listeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;

describe('AbortSignal', () => {
  it('an already-aborted signal rejects before any native work', async () => {
    const reason = new Error('already');
    const signal = AbortSignal.abort(reason);
    const { error } = await settle(e.call('nope_not_even_checked', [() => 1], { signal }));
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.cause).toBe(reason);
    expect(error.origin).toBe('signal');
    expect(listeners(signal)).toBe(0);
    expect(e.liveCalls).toBe(0);
  });

  it('cause is the signal reason: a custom abort(reason) reaches the caller', async () => {
    const ac = new AbortController();
    const reason = { custom: true };
    const p = e.call('nap', [10_000], { signal: ac.signal, callId: 9 });
    await sleep(10);
    ac.abort(reason);
    const { error } = await settle(p);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ name: 'AbortError', origin: 'signal', callId: 9 });
    expect(error.cause).toBe(reason);
    const ac2 = new AbortController();
    const q = e.call('spin', [], { signal: ac2.signal });
    await sleep(10);
    ac2.abort();
    const r = await settle(q);
    expect(r.error.cause).toBeInstanceOf(DOMException);
    expect(r.error.cause.name).toBe('AbortError');
  });

  it('AbortSignal.timeout() cancels with origin signal; the cause is its TimeoutError', async () => {
    const { error } = await settle(e.call('nap', [10_000], { signal: AbortSignal.timeout(30) }));
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    expect(error.origin).toBe('signal');
    expect(error.cause.name).toBe('TimeoutError');
  });

  it('the listener is removed on every settle path', async () => {
    const ac = new AbortController();
    const { signal } = ac;
    expect(await e.call('quick', [], { signal })).toBe(42);
    expect(listeners(signal)).toBe(0);
    await expect(e.call('fail', ['x'], { signal })).rejects.toMatchObject({ name: 'ScriptError' });
    expect(listeners(signal)).toBe(0);
    const p = e.call('nap', [10_000], { signal, callId: 3 });
    expect(listeners(signal)).toBe(1);
    e.cancel(3);
    await expect(p).rejects.toMatchObject({ origin: 'cancel' });
    expect(listeners(signal)).toBe(0);
    await expect(e.call('nap', [10_000], { signal, timeoutMs: 10 })).rejects.toBeInstanceOf(TimeoutError);
    expect(listeners(signal)).toBe(0);
    await expect(e.call('nope', [], { signal })).rejects.toMatchObject({ name: 'UnknownFunctionError' });
    expect(listeners(signal)).toBe(0);
    const live = e.call('nap', [200], { signal, callId: 4 });
    await expect(e.call('quick', [], { signal, callId: 4 })).rejects.toMatchObject({ name: 'DuplicateCallIdError' });
    expect(listeners(signal)).toBe(1);
    await live;
    expect(listeners(signal)).toBe(0);
    await expect(e.call('echo_ints', [[Symbol('x')]], { signal })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(listeners(signal)).toBe(0);
    const local = await engine();
    const closing = local.call('nap', [10_000], { signal });
    await local.close();
    await expect(closing).rejects.toMatchObject({ origin: 'close' });
    expect(listeners(signal)).toBe(0);
    ac.abort();
    expect(listeners(signal)).toBe(0);
  });

  it('abort() of a sleeping call on an idle engine settles it within abort() itself', async () => {
    // Settled before any other macrotask runs: the idle worker's part is
    // done by the aborting thread and the completion drained at once. A
    // spurious wake-up of the worker can send one trial the ordinary way.
    let atOnce = 0;
    for (let trial = 0; trial < 10; trial++) {
      const ac = new AbortController();
      let settled = false;
      const p = e.call('nap', [10_000], { signal: ac.signal }).catch((error) => {
        settled = true;
        return error;
      });
      await sleep(20);
      ac.abort();
      await null;
      await null;
      if (settled) atOnce++;
      const error = await p;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.origin).toBe('signal');
      expect(listeners(ac.signal)).toBe(0);
    }
    expect(atOnce).toBeGreaterThanOrEqual(8);
    expect(e.liveCalls).toBe(0);
  });

  it('a signal shared by two engines, and engine.cancel(id), also settle their calls inside the call itself', async () => {
    const other = await engine();
    try {
      let atOnce = 0;
      for (let trial = 0; trial < 10; trial++) {
        const ac = new AbortController();
        const settled: string[] = [];
        const track = (p: Promise<unknown>, name: string): Promise<unknown> =>
          p.catch((error) => {
            settled.push(name);
            return error;
          });
        const calls = [
          track(e.call('nap', [10_000], { signal: ac.signal }), 'e'),
          track(other.call('nap', [10_000], { signal: ac.signal }), 'other'),
          track(other.call('nap', [10_000], { callId: 7 + trial }), 'by id'),
        ];
        await sleep(20);
        ac.abort();
        expect(other.cancel(7 + trial)).toBe(true);
        await null;
        await null;
        if (settled.length === 3) atOnce++;
        const errors = await Promise.all(calls);
        expect(errors.map((error) => (error as CancelledError).origin)).toEqual(['signal', 'signal', 'cancel']);
      }
      expect(atOnce).toBeGreaterThanOrEqual(8);
      expect([e.liveCalls, other.liveCalls]).toEqual([0, 0]);
    } finally {
      await other.close();
    }
  });

  it('engine.cancel(id) settles inside cancel() also while other completions wait to be delivered', async () => {
    let atOnce = 0;
    for (let trial = 0; trial < 10; trial++) {
      let settled = false;
      const id = 100 + trial;
      const p = e.call('nap', [10_000], { callId: id }).catch((error) => {
        settled = true;
        return error;
      });
      await sleep(20);
      // A completion queued and announced, but not delivered: the event loop is busy.
      const other = e.call('quick');
      const until = performance.now() + 20;
      while (performance.now() < until);
      expect(e.cancel(id)).toBe(true);
      await null;
      await null;
      if (settled) atOnce++;
      expect((await p).origin).toBe('cancel');
      expect(await other).toBe(42);
    }
    expect(atOnce).toBeGreaterThanOrEqual(8);
  });

  it('many calls share one listener; aborting cancels them all', async () => {
    const ac = new AbortController();
    const calls = Array.from({ length: 100 }, () => e.call('nap', [10_000], { signal: ac.signal }));
    expect(listeners(ac.signal)).toBe(1);
    ac.abort('stop');
    for (const r of await Promise.allSettled(calls)) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ origin: 'signal', cause: 'stop' });
    }
    expect(listeners(ac.signal)).toBe(0);
  });

  it('100,000 sleeping calls sharing one signal: no listener left, no warning, all settled', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const big = await engine();
    const ac = new AbortController();
    const n = 100_000;
    const reason = new Error('mass');
    const calls: Promise<unknown>[] = new Array(n);
    for (let i = 0; i < n; i++) calls[i] = big.call('nap', [60_000], { signal: ac.signal });
    expect(listeners(ac.signal)).toBe(1);
    await sleep(100);
    // Completions are delivered in slices (at most 2,048 per turn) with turns
    // of the event loop in between, so the loop keeps turning during the flood.
    let settledCount = 0;
    for (const c of calls) c.catch(() => settledCount++);
    let turnsDuringFlood = 0;
    const turn = (): void => {
      if (settledCount > 0 && settledCount < n) turnsDuringFlood++;
      if (settledCount < n) setImmediate(turn);
    };
    const t0 = performance.now();
    ac.abort(reason);
    // Keep the JS thread busy so that every completion is queued before the
    // first delivery: the worst case for a stall.
    while (performance.now() - t0 < 300) {
      /* busy */
    }
    setImmediate(turn);
    const results = await Promise.allSettled(calls);
    const elapsed = performance.now() - t0;
    expect(turnsDuringFlood).toBeGreaterThanOrEqual(Math.floor(n / 4096) - 2);
    console.log(`mass cancel: ${n} calls settled ${elapsed.toFixed(1)} ms after abort()`);
    expect(results.every((r) => r.status === 'rejected' && r.reason.cause === reason)).toBe(true);
    expect(listeners(ac.signal)).toBe(0);
    expect(big.liveCalls).toBe(0);
    await sleep(10);
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    await big.close();
  });
});
