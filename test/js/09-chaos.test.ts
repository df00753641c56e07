// Chaos: calls whose cancel comes at a random moment (before start, while queued, sleeping, computing,
// just after completion, twice). Every promise settles exactly once, with the right value or the right
// error class, and the engine ends with zero live calls. BRAKE_CHAOS_CALLS sets the count (npm run chaos:long: 1M).
// The same with real I/O: HTTP requests (the native transport with its own HTTP/1.1 client, with
// libcurl only, and the host transport) to a local server that answers at once,
// late, cuts the body short, resets the connection or never answers, cancelled at random moments by
// engine.cancel or a signal: every call settles once with the right outcome, and afterwards the engine
// has no live call and no transfer in flight, and once it is closed the server has no connection open.
// BRAKE_CHAOS_HTTP_CALLS sets the native transport's count (each client's) (the host transport runs a quarter of it, at most 10,000).
// And everything at once on one engine: sleeps, compute loops, HTTP, host functions, LLM calls
// (with a retry policy) and LLM streams (engine.stream, read to their end) against the mock LLM server, cancelled by engine.cancel, a signal or a deadline
// at random moments: every call settles once with its value, a CancelledError, or a TimeoutError
// exactly when its deadline was the cause; nothing is left live, waiting on the host or in flight;
// and resident memory after the run is within 10 % of what it was after three warm-up rounds of the same size.
// BRAKE_CHAOS_MIXED_CALLS sets its count.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, TimeoutError, httpNativeAvailable } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/
import { MIXED_REPLY, churn, mixedChaos, rng } from '../support/chaos-mix.mjs';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startHttpServer } from '../support/http-server.mjs';
import { engine, sleep } from './helpers';

const TOTAL = Number(process.env.BRAKE_CHAOS_CALLS ?? 100_000);
const IN_FLIGHT = 2_000;

type Moment = 'before' | 'queued' | 'sleeping' | 'computing' | 'after' | 'twice' | 'signal' | 'never';
const MOMENTS: Moment[] = ['before', 'queued', 'sleeping', 'computing', 'after', 'twice', 'signal', 'never'];

describe('chaos', () => {
  it(`${TOTAL} calls cancelled at random moments all settle once, correctly`, { timeout: 30 * 60_000 }, async () => {
    const seed = Number(process.env.BRAKE_CHAOS_SEED ?? Date.now() % 1_000_000);
    console.log(`chaos: ${TOTAL} calls, seed ${seed}`);
    const random = rng(seed);
    const e = await engine();
    const settled = new Uint8Array(TOTAL);
    const counts = { value: 0, cancelled: 0 };
    const problems: string[] = [];
    let started = 0;
    let done = 0;
    let nextId = 1;
    const t0 = performance.now();

    await new Promise<void>((resolve) => {
      const finish = (i: number): void => {
        if (settled[i]++ !== 0) problems.push(`call ${i} settled twice`);
        if (++done === TOTAL) resolve();
        else pump();
      };
      const one = (i: number): void => {
        const moment = MOMENTS[Math.floor(random() * MOMENTS.length)];
        const id = nextId++;
        const kind = moment === 'computing' ? 'compute' : moment === 'sleeping' || random() < 0.5 ? 'nap' : 'quick';
        const arg = kind === 'compute' ? 20_000 + Math.floor(random() * 20_000) : Math.floor(random() * 5);
        const expected = kind === 'compute' ? (arg * (arg - 1)) / 2 : kind === 'nap' ? arg : 42;
        let signal: AbortSignal | undefined;
        if (moment === 'before' || moment === 'signal') {
          const ac = new AbortController();
          signal = ac.signal;
          if (moment === 'before') ac.abort('pre');
          else setTimeout(() => ac.abort('late'), Math.floor(random() * 3));
        }
        const p = e.call(kind, kind === 'quick' ? [] : [arg], { callId: id, signal });
        p.then(
          (value) => {
            if (value !== expected) problems.push(`call ${i} (${moment}, ${kind}) resolved ${String(value)} != ${expected}`);
            if (moment === 'before') problems.push(`call ${i}: pre-aborted call resolved`);
            counts.value++;
            if (moment === 'after' && e.cancel(id)) problems.push(`call ${i}: cancel after completion found a live call`);
            finish(i);
          },
          (error) => {
            if (!(error instanceof CancelledError)) problems.push(`call ${i} (${moment}): ${error?.name}: ${error?.message}`);
            else if (moment === 'never' || moment === 'after') problems.push(`call ${i} (${moment}) cancelled by nobody`);
            counts.cancelled++;
            finish(i);
          },
        );
        if (moment === 'queued') e.cancel(id);
        else if (moment === 'twice') {
          e.cancel(id);
          setImmediate(() => e.cancel(id));
        } else if (moment === 'sleeping' || moment === 'computing') {
          setTimeout(() => e.cancel(id), Math.floor(random() * 3));
        }
      };
      const pump = (): void => {
        while (started - done < IN_FLIGHT && started < TOTAL) one(started++);
      };
      pump();
    });

    console.log(`chaos: ${counts.value} values, ${counts.cancelled} cancelled, ${Math.round(TOTAL / ((performance.now() - t0) / 1000))} calls/s sustained`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(settled.every((s) => s === 1)).toBe(true);
    expect(e.liveCalls).toBe(0);
    await e.close();
  });
});

const HTTP_TOTAL = Number(process.env.BRAKE_CHAOS_HTTP_CALLS ?? 20_000);
const HTTP_SOURCE = `
function get(url: string) -> string {
  let r = baml.http.fetch(url);
  let e = r.error;
  if (e != null) { "error: " + e } else { r.text() }
}`;

describe('chaos with HTTP', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  beforeAll(async () => {
    server = await startHttpServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  // What the server does, and what the script returns when not cancelled.
  const ROUTES: Array<{ path: (r: () => number) => string; expect: string | null }> = [
    { path: () => '/ok', expect: 'hello' },
    { path: (r) => `/slow?ms=${Math.floor(r() * 15)}`, expect: 'done' },
    { path: () => '/cut', expect: 'error' },
    { path: () => '/reset', expect: 'error' },
    { path: () => '/slow?ms=600000', expect: null }, // never answers: always cancelled
  ];
  type HttpMoment = 'never' | 'queued' | 'soon' | 'later' | 'signal';
  const HTTP_MOMENTS: HttpMoment[] = ['never', 'queued', 'soon', 'later', 'signal'];

  const transports = httpNativeAvailable() ? (['native', 'libcurl', 'host'] as const) : (['host'] as const);
  for (const transport of transports) {
    // The host transport (Node's fetch) closes each cancelled connection
    // with a FIN, leaving a TIME_WAIT socket per cancel: past about 20,000
    // cancels within seconds the loopback's ephemeral ports run out, the
    // kernel reuses ports whose server side is still closing, and new
    // connections are reset (fetch: "read ECONNRESET"). The native transport
    // resets cancelled connections and leaves none. So the host transport
    // runs a quarter of the count, at most 10,000.
    const total = transport !== 'host' ? HTTP_TOTAL : Math.min(10_000, Math.ceil(HTTP_TOTAL / 4));
    it(`${total} requests (${transport} transport) cancelled at random moments all settle once, correctly`, { timeout: 30 * 60_000 }, async () => {
      const seed = Number(process.env.BRAKE_CHAOS_SEED ?? Date.now() % 1_000_000);
      console.log(`chaos http (${transport}): ${total} calls, seed ${seed}`);
      const random = rng(seed);
      const e = await Engine.fromSource(HTTP_SOURCE, { workerThreads: 2, http: { transport } });
      let nextId = 1;
      const { counts, problems, settled, callsPerSec } = await churn(total, 500, (i, finish, problem) => {
        const route = ROUTES[Math.floor(random() * ROUTES.length)]!;
        let moment = HTTP_MOMENTS[Math.floor(random() * HTTP_MOMENTS.length)]!;
        if (route.expect === null && moment === 'never') moment = 'later';
        const id = nextId++;
        let signal: AbortSignal | undefined;
        const delay = moment === 'soon' ? random() * 2 : 2 + random() * 20;
        if (moment === 'signal') {
          const ac = new AbortController();
          signal = ac.signal;
          setTimeout(() => ac.abort('gave up'), delay);
        }
        e.call('get', [`${server.url}${route.path(random)}`], { callId: id, signal }).then(
          (value) => {
            const outcome = String(value).startsWith('error: ') ? 'error' : String(value);
            if (outcome !== route.expect) problem(`call ${i} (${moment}): ${String(value)} != ${String(route.expect)}`);
            finish(outcome);
          },
          (error) => {
            if (!(error instanceof CancelledError)) problem(`call ${i} (${moment}): ${error?.name}: ${error?.message}`);
            else if (moment === 'never') problem(`call ${i} cancelled by nobody`);
            finish('cancelled');
          },
        );
        if (moment === 'queued') e.cancel(id);
        else if (moment === 'soon' || moment === 'later') setTimeout(() => e.cancel(id), delay);
      });
      console.log(`chaos http (${transport}): ${JSON.stringify(counts)}, ${Math.round(callsPerSec)} calls/s sustained`);
      expect(problems.slice(0, 20)).toEqual([]);
      expect(settled.every((x) => x === 1)).toBe(true);
      expect(e.liveCalls).toBe(0);
      expect(e.pendingHostCalls).toBe(0);
      // Cancelled transfers' sockets are closed by their workers right after the calls settle.
      const deadline = performance.now() + 2000;
      while (e.httpStats.transfers > 0 && performance.now() < deadline) await sleep(5);
      expect(e.httpStats.transfers).toBe(0);
      await e.close();
      if (transport === 'native') {
        // The engine's kept-alive connections went with it: the server has none left open.
        const until = performance.now() + 5000;
        while (server.openConnections() > 0 && performance.now() < until) await sleep(5);
        expect(server.openConnections()).toBe(0);
      }
    });
  }
});

const MIXED_TOTAL = Number(process.env.BRAKE_CHAOS_MIXED_CALLS ?? 20_000);

describe('chaos with everything at once', () => {
  // The servers in a process of their own: they keep a record of every
  // request, which is not the client's memory.
  let servers: ChildProcess;
  const urls = { http: '', llm: '' };
  beforeAll(async () => {
    servers = fork(fileURLToPath(new URL('../support/servers-process.mjs', import.meta.url)), [MIXED_REPLY], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    Object.assign(urls, await new Promise((resolve) => servers.once('message', resolve)));
  });
  afterAll(() => {
    servers?.kill();
  });

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  it(`${MIXED_TOTAL} calls of every kind, cancelled from every source, all settle once; memory returns`, { timeout: 30 * 60_000 }, async () => {
    const seed = Number(process.env.BRAKE_CHAOS_SEED ?? Date.now() % 1_000_000);
    console.log(`chaos mixed: ${MIXED_TOTAL} calls, seed ${seed}`);
    const { engine: e, round, quiet } = await mixedChaos({ Engine, CancelledError, TimeoutError }, urls, rng(seed));
    // Warm-up rounds bring the allocators (an arena per thread) and V8's heap
    // to their working size: resident memory grows over the first three
    // rounds of this size and is flat after (measured: 77, 85, 98, 100, 100,
    // 100, 101, 101, 101, 101, 101, 101 MB after rounds 1 to 12).
    for (let r = 0; r < 3; r++) {
      const warm = await round(MIXED_TOTAL);
      expect(warm.problems.slice(0, 20)).toEqual([]);
    }
    await quiet();
    await sleep(50);
    gc();
    const baseline = process.memoryUsage().rss;
    const { problems, counts, settled, callsPerSec } = await round(MIXED_TOTAL);
    console.log(`chaos mixed: ${JSON.stringify(counts)}, ${Math.round(callsPerSec)} calls/s sustained`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(settled.every((x) => x === 1)).toBe(true);
    await quiet();
    expect(e.liveCalls).toBe(0);
    expect(e.pendingHostCalls).toBe(0);
    expect(e.httpStats.transfers).toBe(0);
    await sleep(50);
    gc();
    const after = process.memoryUsage().rss;
    console.log(`chaos mixed: resident memory ${(baseline / 2 ** 20).toFixed(1)} MB after the warm-up, ${(after / 2 ** 20).toFixed(1)} MB after the run`);
    expect(after).toBeLessThan(baseline * 1.1);
    for (const k of ['value', 'cancelled', 'timeout']) expect(counts[k] ?? 0).toBeGreaterThan(0);
    await e.close();
  });
});
