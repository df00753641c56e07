// One JavaScript sample, run in a fresh process by the harness:
//
//   node [--expose-gc] bench/workers/js-sample.mjs '<json spec>'
//
// spec = { kind, variant, ...parameters }. Prints one JSON line with the
// sample's measurements. Variants: 'brake' (this package, from dist/),
// 'async-fn' (a plain async function), 'timers' (timers/promises setTimeout
// with a signal), 'listener' (a bare abort listener that rejects: the floor
// for abort latency) and 'baml' (BAML's Node runtime via its generated client).
import { setMaxListeners } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2]);
const benchDir = fileURLToPath(new URL('..', import.meta.url));
const CALLS_BAML = readFileSync(`${benchDir}/programs/calls.baml`, 'utf8');
const HOST_BAML = readFileSync(`${benchDir}/programs/host.baml`, 'utf8');
const LONG_SLEEP_MS = 600_000;

// `echo` answers at once (a plain value), or with a promise when the spec
// says so; `hang` never answers (for abort latency), and notes when the
// call's signal aborts.
const hostState = { aborted: undefined, started: 0 };
async function brakeEngine() {
  const { Engine } = await import('../../dist/index.mjs');
  const echo = spec.asyncHost ? async ([x]) => x : ([x]) => x;
  const hang = (_args, { signal }) => {
    hostState.started++;
    signal.addEventListener('abort', () => hostState.aborted?.(), { once: true });
    return new Promise(() => {});
  };
  return Engine.fromSource(CALLS_BAML + HOST_BAML, {
    workerThreads: spec.workers ?? 0,
    host: { echo: { signature: '(x: int) -> int', fn: spec.hangingHost ? hang : echo } },
  });
}

async function bamlClient() {
  // The generated client is TypeScript (CommonJS flavour): load it through tsx's require hook.
  const require = createRequire(import.meta.url);
  require('tsx/cjs/api').register();
  return require(`${benchDir}/peers/baml/baml_client/index.ts`).b;
}

/** A trivial call a(i) -> Promise for each variant, plus a cleanup. */
async function trivialCall(variant) {
  if (variant === 'brake') {
    const engine = await brakeEngine();
    return { call: (i) => engine.call('add', [i, 1]), close: () => engine.close() };
  }
  if (variant === 'brake-host') {
    const engine = await brakeEngine();
    return { call: (i) => engine.call('via_host', [i]), close: () => engine.close() };
  }
  if (variant === 'async-fn') {
    const add = async (a, b) => a + b;
    return { call: (i) => add(i, 1), close: async () => {} };
  }
  if (variant === 'async-fn-host') {
    // A plain async function that awaits another one: the round trip's floor.
    const echo = async (x) => x;
    const viaHost = async (x) => echo(x);
    return { call: (i) => viaHost(i), close: async () => {} };
  }
  if (variant === 'baml') {
    const b = await bamlClient();
    return { call: (i) => b.Add(i, 1), close: async () => {} };
  }
  throw new Error(`unknown variant ${variant}`);
}

/** A cancellable long operation for each variant: (signal) => Promise. */
async function sleepingCall(variant) {
  if (variant === 'brake') {
    const engine = await brakeEngine();
    return { start: (signal) => engine.call('sleep_ms', [LONG_SLEEP_MS], { signal }), engine, close: () => engine.close() };
  }
  if (variant === 'timers') {
    return { start: (signal) => sleep(LONG_SLEEP_MS, undefined, { signal }), close: async () => {} };
  }
  if (variant === 'listener') {
    // The floor of any AbortSignal-driven cancel: one listener that only
    // rejects, with the signal's own reason (no error of its own to build).
    const start = (signal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    return { start, close: async () => {} };
  }
  throw new Error(`unknown variant ${variant}`);
}

// Calls for `durationMs` with `inFlight` lanes, each starting its next call
// when its previous one settles (so `inFlight` are always pending).
async function throughput() {
  const { call, close } = await trivialCall(spec.variant);
  const lanes = spec.inFlight;
  const drive = async (durationMs) => {
    const end = performance.now() + durationMs;
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        let i = lane;
        while (performance.now() < end) {
          await call(i);
          i += lanes;
          done++;
        }
      }),
    );
    return { done, ms: performance.now() - t0 };
  };
  await drive(spec.warmupMs);
  const { done, ms } = await drive(spec.durationMs);
  await close();
  return { calls: done, ms, callsPerSec: (done / ms) * 1000 };
}

// Abort -> settle: start a call, let it sleep (or spin) `waitMs`, abort, time until the promise settles.
async function abortLatency() {
  let start;
  let close;
  if (spec.variant === 'brake-compute') {
    const engine = await brakeEngine();
    start = (signal) => engine.call('spin', [], { signal });
    close = () => engine.close();
  } else {
    ({ start, close } = await sleepingCall(spec.variant));
  }
  const us = [];
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    const ac = new AbortController();
    const p = start(ac.signal);
    await sleep(spec.waitMs);
    const t0 = performance.now();
    ac.abort();
    try {
      await p;
      throw new Error('call was not cancelled');
    } catch (error) {
      if (error?.name !== 'AbortError') throw error;
    }
    const t1 = performance.now();
    if (i >= spec.warmup) us.push((t1 - t0) * 1000);
  }
  await close();
  return { us };
}

// N sleeping calls on one signal; abort; time until all settled, and the longest event-loop stall meanwhile.
async function massCancel() {
  const { start, engine, close } = await sleepingCall(spec.variant);
  // Warm-up round (1,000 calls) so the cold first run of every code path is not what is timed.
  const warm = new AbortController();
  setMaxListeners(0, warm.signal);
  const warmCalls = Array.from({ length: 1000 }, () => start(warm.signal).catch(() => {}));
  await sleep(20);
  warm.abort();
  await Promise.all(warmCalls);
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // the peer adds one listener per call; no warning noise
  const n = spec.calls;
  const t0 = performance.now();
  const promises = new Array(n);
  for (let i = 0; i < n; i++) promises[i] = start(ac.signal).then(() => 0, (e) => (e?.name === 'AbortError' ? 1 : 2));
  const admitMs = performance.now() - t0;
  // Let the workers take every call in (brake) before cancelling.
  if (engine) while (engine.liveCalls < n) await sleep(5);
  await sleep(20);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let stall = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  // Everything that waits for the outcomes is set up before the abort, as a
  // service's awaits are: Promise.all over 100k promises costs about 5 ms and
  // 20 ms of scavenges of its own, which are not the cancel's.
  const all = Promise.all(promises);
  await sleep(5);
  const t1 = performance.now();
  ac.abort();
  const abortSyncMs = performance.now() - t1;
  const outcomes = await all;
  const settleMs = performance.now() - t1;
  await sleep(5);
  clearInterval(ticker);
  h.disable();
  const cancelled = outcomes.reduce((a, b) => a + (b === 1 ? 1 : 0), 0);
  if (cancelled !== n) throw new Error(`${n - cancelled} of ${n} calls did not settle as cancelled`);
  await close();
  return {
    admitMs,
    settleMs,
    abortSyncMs,
    // The interval ticker sees every gap between its 1 ms ticks; the histogram is Node's own view.
    maxStallMs: Math.max(stall, h.max / 1e6, abortSyncMs),
  };
}

// Memory per in-flight call: RSS and JS heap before and while N calls sleep
// (after GC). No signals: one shared signal would cost the timers peer O(N²)
// to set up, and per-call controllers would measure AbortController, not the call.
async function memory() {
  const { start, engine, close } = await sleepingCall(spec.variant);
  // Warm up the code paths so their one-off allocations are in the baseline.
  for (let i = 0; i < 100; i++) start(undefined).catch(() => {});
  if (engine) while (engine.liveCalls < 100) await sleep(5);
  const n = spec.calls;
  const gcAll = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await sleep(10);
    }
  };
  await gcAll();
  const before = process.memoryUsage();
  const promises = new Array(n);
  for (let i = 0; i < n; i++) promises[i] = start(undefined).catch(() => {});
  if (engine) while (engine.liveCalls < n + 100) await sleep(5);
  await gcAll();
  const after = process.memoryUsage();
  if (engine) await close(); // cancels every call; the timers just die with the process
  return {
    rssBytesPerCall: (after.rss - before.rss) / n,
    heapBytesPerCall: (after.heapUsed - before.heapUsed) / n,
  };
}

// Cancel -> the host function's signal fires, for a call waiting on a host
// function that never answers: start, wait until the host has the call, wait
// `waitMs`, cancel (engine.cancel(id) for 'brake-cancel', the call's
// AbortSignal for 'brake'), time until the host's abort listener runs.
async function hostAbortLatency() {
  const engine = await brakeEngine();
  const us = [];
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    const ac = new AbortController();
    const started = hostState.started;
    const byId = spec.variant === 'brake-cancel';
    const callId = i + 1;
    const p = engine.call('via_host', [i], byId ? { callId } : { signal: ac.signal }).catch((e) => e);
    while (hostState.started === started) await sleep(0);
    await sleep(spec.waitMs);
    let t1 = 0;
    const fired = new Promise((resolve) => (hostState.aborted = () => ((t1 = performance.now()), resolve())));
    const t0 = performance.now();
    if (byId) engine.cancel(callId);
    else ac.abort();
    await fired;
    const error = await p;
    if (error?.name !== 'AbortError') throw new Error('the call was not cancelled');
    if (i >= spec.warmup) us.push((t1 - t0) * 1000);
  }
  await engine.close();
  return { us };
}

// baml.sys.shell against child_process: a command that starts a child in
// the background and sleeps; abort once both are running; time abort ->
// settled and abort -> every process of the command gone, and count what
// is still alive a quarter second later (then kill it, so samples do not pile up).
async function shellAbort() {
  const { spawn } = await import('node:child_process');
  const { rmSync } = await import('node:fs');
  const file = `/tmp/brake-bench-shell-${process.pid}.pids`;
  const command = `sleep 30 & echo $! >> ${file}; echo $$ >> ${file}; sleep 30`;
  let start;
  let close = async () => {};
  if (spec.variant === 'brake') {
    const { Engine } = await import('../../dist/index.mjs');
    const engine = await Engine.fromSource('function sh(cmd: string) -> string { baml.sys.shell(cmd) }', { workerThreads: 1, allowShell: true });
    start = (signal) => engine.call('sh', [command], { signal });
    close = () => engine.close();
  } else {
    // What Node offers: spawn with a signal (it kills the shell with SIGTERM).
    start = (signal) =>
      new Promise((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', command], { signal, stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', resolve);
      });
  }
  const alive = (pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat[stat.lastIndexOf(')') + 2];
      return state !== 'Z' && state !== 'X';
    } catch {
      return false;
    }
  };
  const settledUs = [];
  const goneUs = [];
  let survivors = 0;
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    rmSync(file, { force: true });
    const ac = new AbortController();
    const p = start(ac.signal).then(() => 'done', (e) => e?.name);
    let pids = [];
    while (pids.length < 2) {
      await sleep(1);
      try {
        pids = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number);
      } catch {}
    }
    const t0 = performance.now();
    ac.abort();
    const outcome = await p;
    const t1 = performance.now();
    if (outcome !== 'AbortError') throw new Error(`the command was not aborted: ${outcome}`);
    let t2 = null;
    while (performance.now() - t0 < 250) {
      if (pids.every((pid) => !alive(pid))) {
        t2 = performance.now();
        break;
      }
      await sleep(0);
    }
    const left = pids.filter(alive);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    if (i >= spec.warmup) {
      settledUs.push((t1 - t0) * 1000);
      if (t2 !== null) goneUs.push((t2 - t0) * 1000);
      survivors += left.length;
    }
  }
  rmSync(file, { force: true });
  await close();
  return { settledUs, goneUs, survivors, samples: spec.samples };
}


// Spawned tasks: spawn + await of trivial children (children/s, one call),
// memory per live sleeping child (RSS growth while n sleep), and abort of a
// call whose n children sleep -> settled. Node: async functions under
// Promise.all, and timers/promises' setTimeout with the shared signal.
async function spawnTasks() {
  const n = spec.children;
  const { setTimeout: delay } = await import('node:timers/promises');
  let fanout, sleepers, close = async () => {}, live = () => 0;
  if (spec.variant === 'brake') {
    const { Engine } = await import('../../dist/index.mjs');
    const engine = await Engine.fromSource(`
      function fanout(n: int) -> int {
        let fs: Future<int>[] = [];
        for (let i = 0; i < n; i += 1) { fs.push(spawn { i }) }
        let total = 0;
        for (let f in fs) { total += await f }
        total
      }
      function sleepers(n: int) -> int {
        let fs: Future<int>[] = [];
        for (let i = 0; i < n; i += 1) { fs.push(spawn { baml.sys.sleep(600000); i }) }
        baml.future.all(fs).length()
      }`, { workerThreads: 1 });
    fanout = (k) => engine.call('fanout', [k]);
    sleepers = (k, signal) => engine.call('sleepers', [k], { signal });
    live = () => engine.liveTasks;
    close = () => engine.close();
  } else {
    const child = async (i) => i;
    fanout = async (k) => {
      const ps = [];
      for (let i = 0; i < k; i++) ps.push(child(i));
      let total = 0;
      for (const v of await Promise.all(ps)) total += v;
      return total;
    };
    let pending = 0;
    const sleeper = async (i, signal) => {
      pending++;
      try {
        await delay(600000, undefined, { signal });
        return i;
      } finally {
        pending--;
      }
    };
    sleepers = async (k, signal) => {
      const ps = [];
      for (let i = 0; i < k; i++) ps.push(sleeper(i, signal));
      return (await Promise.all(ps)).length;
    };
    live = () => pending;
  }
  // memory per live child, and abort -> settled with them all sleeping
  const settledUs = [];
  const bytesPerChild = [];
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    globalThis.gc?.();
    const before = process.memoryUsage(); // (rss)
    const ac = new AbortController();
    const p = sleepers(spec.sleepers, ac.signal).then(() => 'done', (e) => e?.name);
    while (live() < spec.sleepers) await sleep(1);
    await sleep(5);
    const after = process.memoryUsage();
    const t0 = performance.now();
    ac.abort();
    const outcome = await p;
    const t1 = performance.now();
    if (outcome !== 'AbortError') throw new Error(`not aborted: ${outcome}`);
    // Memory: the first round only (later ones reuse the pages the first freed).
    if (i === 0) bytesPerChild.push((after.rss - before.rss) / spec.sleepers);
    if (i >= spec.warmup) settledUs.push((t1 - t0) * 1000);
    while (live() > 0) await sleep(1);
  }
  // children per second (after the memory rounds, which want a fresh process)
  await fanout(1000);
  const rates = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await fanout(n);
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  await close();
  return { rates, settledUs, bytesPerChild };
}

const kinds = { throughput, abortLatency, massCancel, memory, hostAbortLatency, shellAbort, spawnTasks };
const result = await kinds[spec.kind]();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
