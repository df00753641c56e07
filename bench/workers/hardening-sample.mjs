// One hardening sample, run in a fresh process by the harness
// (bench/scenarios/hardening.mjs):
//
//   node bench/workers/hardening-sample.mjs '<json spec>'
//
// spec = { kind, variant, ... }. Kinds:
//   memory         one script that allocates without bound (`pattern`, from
//                  test/support/hostile.baml) under a 256 MiB limit:
//                    brake   engine.call with callMemoryLimit 256 MiB
//                    worker  the same loop in JavaScript in a worker_thread
//                            with resourceLimits.maxOldGenerationSizeMb 256
//                  the process's peak resident memory above its baseline, the
//                  time to the failure and what failed. (If the worker's
//                  out-of-memory aborts the whole process, this prints nothing:
//                  the harness counts the run as the process not surviving.)
//   memoryTen      brake only: ten hostile calls at once (a mix of the five
//                  patterns) on a 2-worker engine, 96 MiB per call, 256 MiB for
//                  the engine: peak resident memory above the baseline
//   builtinCancel  each builtin of test/support/bounded-builtins.baml on an
//                  input of 100 MB or more, stopped `delayMs` after it started:
//                    brake   engine.cancel(id) -> the call's promise rejected
//                    worker  the same operation in JavaScript in a
//                            worker_thread: worker.terminate() -> resolved
//                  per builtin, the median over `trials` stops (ms)
//   chaos          brake only: the chaos mix (test/support/chaos-mix.mjs) for
//                  `calls` calls after `warmups` rounds of the same size, the
//                  servers in a process of their own: calls/s, lost and double
//                  settles, problems, resident memory drift after the run
// Prints one JSON line.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

import { MIXED_REPLY, mixedChaos, rng } from '../../test/support/chaos-mix.mjs';

const spec = JSON.parse(process.argv[2]);
const support = (name) => readFileSync(fileURLToPath(new URL(`../../test/support/${name}`, import.meta.url)), 'utf8');
const MiB = 2 ** 20;
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const lib = () => import('../../dist/index.mjs');

// The hostile patterns in JavaScript, for the worker_threads peer (the same
// loops as test/support/hostile.baml; `s + s` is flattened, as brake's is).
const JS_HOSTILE = {
  doubling: `let s = 'x'; for (;;) { s = s + s; s.charCodeAt(s.length - 1); }`,
  array_growth: `const a = []; for (;;) a.push(1);`,
  map_growth: `const m = {}; let k = ''; for (;;) { k = k + 'k'; m[k] = 1; }`,
  deep_copies: `const a = Array.from({ length: 1000 }, () => 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'); const all = []; for (;;) all.push(structuredClone(a));`,
};

async function memory() {
  const limit = 256 * MiB;
  if (spec.variant === 'brake') {
    const { Engine } = await lib();
    const e = await Engine.fromSource(support('hostile.baml'), { workerThreads: 2, callMemoryLimit: limit });
    await sleep(50);
    const before = peakRss();
    const t0 = performance.now();
    const error = await e.call(spec.pattern, []).then(() => undefined, (err) => err);
    const ms = performance.now() - t0;
    const growth = peakRss() - before;
    await e.close();
    return { growthMiB: growth / MiB, overMiB: (growth - limit) / MiB, ms, failed: error ? `${error.name} ${error.kind ?? ''}: ${error.message}`.slice(0, 200) : 'no error' };
  }
  await sleep(50);
  const before = peakRss();
  const t0 = performance.now();
  const worker = new Worker(JS_HOSTILE[spec.pattern], { eval: true, resourceLimits: { maxOldGenerationSizeMb: limit / MiB } });
  const error = await new Promise((resolve) => {
    worker.once('error', resolve);
    worker.once('exit', (code) => resolve({ code: `exit ${code}`, message: 'exited' }));
  });
  const ms = performance.now() - t0;
  const growth = peakRss() - before;
  return { growthMiB: growth / MiB, overMiB: (growth - limit) / MiB, ms, failed: `${error.code}: ${error.message}`.slice(0, 200) };
}

async function memoryTen() {
  const { Engine } = await lib();
  const engineLimit = 256 * MiB;
  const e = await Engine.fromSource(support('hostile.baml'), { workerThreads: 2, callMemoryLimit: 96 * MiB, engineMemoryLimit: engineLimit });
  await sleep(50);
  const before = peakRss();
  const patterns = ['doubling', 'array_growth', 'map_growth', 'deep_copies', 'split_chars'];
  const t0 = performance.now();
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => e.call(patterns[i % patterns.length], []).then(() => 'value', (err) => err.kind ?? err.name)));
  const ms = performance.now() - t0;
  const growth = peakRss() - before;
  await e.close();
  const outOfMemory = outcomes.filter((o) => o === 'out_of_memory').length;
  return { growthMiB: growth / MiB, overMiB: (growth - engineLimit) / MiB, ms, outOfMemory };
}

// The builtins in JavaScript for the worker_threads peer: an input like the
// BAML function's (100 MB or more), then the operation in a loop.
const JS_BUILTINS = {
  concat: ['const s = "abcdefgh".repeat(1 << 24);', 'const t = s + s; t.charCodeAt(1);'],
  join: ['const s = "abcdefgh".repeat(1 << 24);', '[s, s].join(",");'],
  split: ['const s = ("a".repeat(1023) + ",").repeat(1 << 17);', 's.split(",");'],
  replace: ['const s = "abcdefgh".repeat(1 << 24) + "zz";', 's.replace("zz", "y");'],
  upper: ['const s = "abcdefgh".repeat(1 << 24);', 's.toUpperCase();'],
  includes: ['const s = "abcdefgh".repeat(1 << 24);', 's.includes("zz");'],
  index_of: ['const s = "abcdefgh".repeat(1 << 24);', 's.indexOf("zz");'],
  trim: ['const s = " ".repeat(1 << 27);', 's.trim();'],
  starts_with: ['const s = "abcdefgh".repeat(1 << 24); const p = (s + "!").slice(0, -1); p.charCodeAt(0);', 's.startsWith(p);'],
  equals: ['const s = "abcdefgh".repeat(1 << 24); const p = (s + "!").slice(0, -1); p.charCodeAt(0);', 's === p;'],
  deep_equals: ['const { isDeepStrictEqual } = require("node:util"); const a = Array.from({ length: 2e6 }, (_, i) => [i]); const b = Array.from({ length: 2e6 }, (_, i) => [i]);', 'isDeepStrictEqual(a, b);'],
  deep_copy: ['const a = Array.from({ length: 1e6 }, (_, i) => [i]);', 'structuredClone(a);'],
  array_includes: ['const a = Array.from({ length: 8e6 }, (_, i) => i);', 'a.includes(-1);'],
  map_keys: ['const m = {}; for (let i = 0; i < 400000; i++) m["k" + i] = i;', 'Object.keys(m);'],
};
const BAML_BUILTINS = [...support('bounded-builtins.baml').matchAll(/^function (\w+)\(\) -> int /gm)].map((m) => m[1]);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function builtinCancel() {
  const names = spec.only ?? (spec.variant === 'brake' ? BAML_BUILTINS : Object.keys(JS_BUILTINS));
  const result = {};
  if (spec.variant === 'brake') {
    const { Engine } = await lib();
    let ready;
    const e = await Engine.fromSource(support('bounded-builtins.baml'), {
      workerThreads: 1,
      callMemoryLimit: 0,
      engineMemoryLimit: 0,
      host: { ready: { signature: '() -> null', fn: () => { ready(); return null; } } },
    });
    let id = 1;
    for (const name of names) {
      const took = [];
      for (let t = 0; t < spec.trials; t++) {
        const started = new Promise((resolve) => { ready = resolve; });
        const callId = id++;
        const settled = e.call(name, [], { callId }).then(() => { throw new Error(`${name} returned`); }, (err) => { if (err.code !== 'ABORT_ERR') throw err; });
        await started;
        await sleep(spec.delayMs);
        const t0 = performance.now();
        e.cancel(callId);
        await settled;
        took.push(performance.now() - t0);
      }
      result[name] = median(took);
    }
    await e.close();
    return { ms: result };
  }
  for (const name of names) {
    const [setup, op] = JS_BUILTINS[name];
    const took = [];
    for (let t = 0; t < spec.trials; t++) {
      const worker = new Worker(`const { parentPort } = require("node:worker_threads"); ${setup} parentPort.postMessage("ready"); for (;;) { ${op} }`, { eval: true });
      await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      await sleep(spec.delayMs);
      const t0 = performance.now();
      await worker.terminate();
      took.push(performance.now() - t0);
    }
    result[name] = median(took);
  }
  return { ms: result };
}

async function chaos() {
  const { Engine, CancelledError, TimeoutError } = await lib();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const servers = fork(fileURLToPath(new URL('../../test/support/servers-process.mjs', import.meta.url)), [MIXED_REPLY], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const urls = await new Promise((resolve) => servers.once('message', resolve));
    const { engine: e, round, quiet } = await mixedChaos({ Engine, CancelledError, TimeoutError }, urls, rng(spec.seed));
    for (let r = 0; r < spec.warmups; r++) await round(spec.calls, { deadlineMs: 120_000 });
    await quiet();
    await sleep(50);
    gc();
    const baseline = process.memoryUsage().rss;
    const r = await round(spec.calls, { deadlineMs: 120_000 });
    await quiet();
    await sleep(50);
    gc();
    const after = process.memoryUsage().rss;
    const live = e.liveCalls + e.pendingHostCalls + e.httpStats.transfers;
    await e.close();
    return { callsPerSec: r.callsPerSec, lost: r.lost, twice: r.twice, problems: r.problems.length, firstProblem: r.problems[0], live, counts: r.counts, rssDriftPct: (after / baseline - 1) * 100 };
  } finally {
    servers.kill();
  }
}

const kinds = { memory, memoryTen, builtinCancel, chaos };
const out = await kinds[spec.kind]();
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
