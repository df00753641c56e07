#!/usr/bin/env node
// brake's benchmark harness: every scenario against its peers, in one command.
//
//   npm run bench                          every scenario, 5 runs each
//   npm run bench -- --scenario NAME       one scenario (repeat or comma-separate for more)
//   npm run bench -- --quick               smoke mode for CI (small sizes, 2 runs; not quoted)
//   npm run bench -- --list                the scenarios
//
// Options: --runs N (override), --no-install (never npm-install the BAML peer:
// report it unavailable), --out DIR (where results go).
//
// Each sample runs in a fresh process; within a scenario brake and its peers
// alternate run by run (ABAB, then BABA) so a noisy machine hits them alike.
// A complete default run writes bench/results/{results.json,summary.md,charts/};
// any other run writes bench/results/last/ (or --out), which git ignores.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { barChart, cdfChart, cdfPoints } from './lib/charts.mjs';
import { environment } from './lib/env.mjs';
import { NATIVE_TARGETS, buildNative, prepareBaml } from './lib/prepare.mjs';
import { run, runJson } from './lib/proc.mjs';
import { consoleTable, headlineHelper, markdownSummary } from './lib/report.mjs';
import { quantile, sortNumbers, summarize } from './lib/stats.mjs';

import throughput from './scenarios/throughput.mjs';
import abortSleep from './scenarios/abort-sleep.mjs';
import abortCompute from './scenarios/abort-compute.mjs';
import massCancel from './scenarios/mass-cancel.mjs';
import memory from './scenarios/memory.mjs';
import cancelChecks from './scenarios/cancel-checks.mjs';
import vmCompute from './scenarios/vm-compute.mjs';
import nativeCancel from './scenarios/native-cancel.mjs';
import nativeThroughput from './scenarios/native-throughput.mjs';
import hostThroughput from './scenarios/host-throughput.mjs';
import httpScenario from './scenarios/http.mjs';
import abortHost from './scenarios/abort-host.mjs';
import curlWait from './scenarios/curl-wait.mjs';
import llm from './scenarios/llm.mjs';
import parse from './scenarios/parse.mjs';
import stream from './scenarios/stream.mjs';
import install from './scenarios/install.mjs';
import hardening from './scenarios/hardening.mjs';
import shell from './scenarios/shell.mjs';
import spawn from './scenarios/spawn.mjs';

const SCENARIOS = [throughput, abortSleep, abortCompute, massCancel, memory, hostThroughput, abortHost, httpScenario, llm, stream, parse, hardening, shell, spawn, install, curlWait, nativeThroughput, nativeCancel, vmCompute, cancelChecks];
const FULL_RUNS = 5;
const QUICK_RUNS = 2;

const benchDir = fileURLToPath(new URL('.', import.meta.url)).replace(/\/$/, '');
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const { values: opts } = (() => {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        scenario: { type: 'string', multiple: true },
        runs: { type: 'string' },
        list: { type: 'boolean', default: false },
        'no-install': { type: 'boolean', default: false },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    fail(error.message);
  }
})();

if (opts.help) {
  process.stdout.write(`usage: npm run bench -- [--quick] [--scenario NAME[,NAME]] [--runs N] [--no-install] [--out DIR] [--list]\n`);
  process.exit(0);
}
if (opts.list) {
  for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(18)} ${s.title}\n`);
  process.exit(0);
}

const wanted = (opts.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
for (const name of wanted) if (!SCENARIOS.some((s) => s.name === name)) fail(`unknown scenario '${name}' (see --list)`);
const selected = wanted.length ? SCENARIOS.filter((s) => wanted.includes(s.name)) : SCENARIOS;
const runs = opts.runs !== undefined ? Number(opts.runs) : opts.quick ? QUICK_RUNS : FULL_RUNS;
if (!Number.isInteger(runs) || runs < 1) fail('--runs must be a positive integer');
const official = !opts.quick && !wanted.length && runs >= FULL_RUNS && opts.out === undefined;
const outDir = opts.out ?? (official ? `${benchDir}/results` : `${benchDir}/results/last`);

// ---------------------------------------------------------------- progress

const started = performance.now();
const clock = () => {
  const s = Math.round((performance.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const progress = (message) => process.stderr.write(`[${clock()}] ${message}\n`);

// ---------------------------------------------------------------- context

const tmpDir = mkdtempSync(`${os.tmpdir()}/brake-bench-`);
const nativeState = { native: undefined, nochecks: undefined };

function makeContext(scenario, baml) {
  const ctx = {
    quick: opts.quick,
    runs,
    root,
    benchDir,
    tmpDir,
    baml,
    run,
    runJson,

    /** Path of a native bench program; build is 'native' or 'nochecks'. */
    nativeBin(target, build = 'native') {
      return `${root}/build/${build}/${target}`;
    },

    /** One JavaScript sample in a fresh Node process (bench/workers/js-sample.mjs). */
    jsSample(spec, { env = {}, exposeGc = false, timeoutMs } = {}) {
      const args = [...(exposeGc ? ['--expose-gc'] : []), `${benchDir}/workers/js-sample.mjs`, JSON.stringify(spec)];
      return runJson(process.execPath, args, { cwd: root, env, timeoutMs });
    },

    /**
     * Runs `sample(variant, run)` for every variant, `n` times, alternating
     * the order run by run. Resolves { variant: [result per run] }.
     */
    async alternate(variants, sample, label = () => '', n = runs, what = '') {
      const out = Object.fromEntries(variants.map((v) => [v, []]));
      for (let r = 0; r < n; r++) {
        const order = r % 2 ? [...variants].reverse() : variants;
        for (const v of order) {
          const t0 = performance.now();
          const result = await sample(v, r);
          out[v].push(result);
          const secs = ((performance.now() - t0) / 1000).toFixed(1);
          progress(`${scenario.name}${what ? ` ${what}` : ''}: run ${r + 1}/${n} ${v}: ${label(result)} (${secs} s)`);
        }
      }
      return out;
    },

    figure({ metric, variant, unit, better, values, note, target }) {
      const f = { metric, variant, unit, better, ...summarize(values), values: values.map((v) => +v.toPrecision(6)) };
      if (note) f.note = note;
      if (target) f.target = target;
      return f;
    },

    unavailable({ metric, variant, reason }) {
      return { metric, variant, unavailable: true, reason };
    },

    /** A bar chart over figures; groupBy 'metric' makes one group per metric. */
    bars({ file, title, unit, log = false, figures, groupBy }) {
      const groups = [];
      const colorOf = new Map();
      for (const f of figures) {
        const key = groupBy ? f[groupBy] : '';
        let g = groups.find((x) => x.label === key);
        if (!g) groups.push((g = { label: key, bars: [] }));
        if (!colorOf.has(f.variant)) colorOf.set(f.variant, colorOf.size);
        g.bars.push({ label: f.variant, median: f.median, min: f.min, max: f.max, colorIndex: colorOf.get(f.variant) });
      }
      return { file: `${file}.svg`, title, svg: barChart({ title, unit, log, groups }) };
    },

    latencyLabel(r) {
      const s = sortNumbers(r.us);
      return `p50 ${quantile(s, 0.5).toFixed(1)} µs, p99 ${quantile(s, 0.99).toFixed(1)} µs, max ${s[s.length - 1].toFixed(0)} µs`;
    },

    /** Figures (p50, p99, max per run) and a distribution chart for latency samples in µs. */
    latencyResult({ values, variants, file, title, notes, targets = {}, headline }) {
      const figures = [];
      const distributions = {};
      for (const [key, label] of Object.entries(variants)) {
        const perRun = values[key].map((r) => sortNumbers(r.us));
        for (const [name, q] of [['p50', 0.5], ['p99', 0.99], ['max', 1]]) {
          const target = targets[key]?.[name] !== undefined ? { max: targets[key][name] } : undefined;
          figures.push(ctx.figure({ metric: name, variant: label, unit: 'µs', better: 'lower', values: perRun.map((s) => quantile(s, q)), target }));
        }
        distributions[label] = cdfPoints(perRun.flatMap((s) => [...s]));
      }
      figures.sort((a, b) => ['p50', 'p99', 'max'].indexOf(a.metric) - ['p50', 'p99', 'max'].indexOf(b.metric));
      const series = Object.entries(distributions).map(([label, points]) => ({ label, points }));
      return { figures, distributions, headline, charts: [{ file: `${file}.svg`, title, svg: cdfChart({ title, unit: 'µs', series }) }], notes };
    },
  };
  return ctx;
}

// ---------------------------------------------------------------- main

/** Indented JSON with arrays of numbers (and of number pairs) kept on one line. */
function compactJson(value) {
  return JSON.stringify(value, null, 1)
    .replace(/\[[-\d.e+,\s]*\]/g, (m) => m.replace(/\s+/g, ''))
    .replace(/\[(\s*\[[-\d.e+,]*\],?)+\s*\]/g, (m) => m.replace(/\s+/g, ''));
}


async function main() {
  const env = environment(root);
  const mode = opts.quick ? 'quick' : 'full';
  progress(`brake bench (${mode}, ${runs} run${runs > 1 ? 's' : ''} per figure): ${selected.map((s) => s.name).join(', ')}`);
  progress(`${env.machine.cpu}, ${env.machine.cores} cores, Node ${env.node}, commit ${env.commit.slice(0, 12)}${env.dirty ? ' (dirty)' : ''}`);

  // Native programs: one build with the VM's cancel checks, one without (only when needed).
  if (selected.some((s) => s.native)) {
    nativeState.native = await buildNative(root, 'native', NATIVE_TARGETS, [], progress);
  }
  if (selected.some((s) => s.nochecks) && nativeState.native?.ok) {
    nativeState.nochecks = await buildNative(root, 'nochecks', ['vm_bench'], ['-DBRAKE_VM_CANCEL_CHECKS=OFF'], progress);
  }
  if (selected.some((s) => !s.native) && !existsSync(`${root}/dist/index.mjs`)) {
    fail('dist/ is missing: run `npm run build` first (the JavaScript scenarios load the built package)');
  }
  let baml = { available: false, reason: 'not needed by the selected scenarios' };
  const needsBaml = selected.some((s) => s === throughput || s.baml);
  if (needsBaml) {
    baml = await prepareBaml(benchDir, { install: !opts['no-install'], progress });
    progress(baml.available ? `BAML peer: @boundaryml/baml ${baml.version}` : `BAML peer unavailable: ${baml.reason}`);
  }

  const scenarios = [];
  let failed = 0;
  for (const scenario of selected) {
    progress(`== ${scenario.name}: ${scenario.title}`);
    const entry = { name: scenario.name, title: scenario.title };
    const t0 = performance.now();
    try {
      if (scenario.native && !nativeState.native?.ok) throw new Error(`native bench programs unavailable: ${nativeState.native?.reason}`);
      if (scenario.nochecks && !nativeState.nochecks?.ok) throw new Error(`build without cancel checks unavailable: ${nativeState.nochecks?.reason}`);
      const result = await scenario.run(makeContext(scenario, baml));
      Object.assign(entry, result);
      if (result.headline) entry.headline = result.headline(headlineHelper(result.figures));
    } catch (error) {
      failed++;
      entry.error = error.message;
      progress(`${scenario.name} FAILED: ${error.message}`);
    }
    entry.seconds = Math.round((performance.now() - t0) / 100) / 10;
    scenarios.push(entry);
    if (!entry.error) process.stdout.write(`\n${scenario.title}\n${consoleTable(entry)}\n`);
  }

  const command = `npm run bench${opts.quick ? ' -- --quick' : ''}${wanted.length ? `${opts.quick ? '' : ' --'} --scenario ${wanted.join(',')}` : ''}`;
  const result = {
    schema: 1,
    mode,
    runs,
    command: official ? 'npm run bench' : command,
    environment: env,
    peers: { baml: needsBaml ? baml : undefined },
    seconds: Math.round((performance.now() - started) / 1000),
    loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    scenarios: scenarios.map(({ charts, ...s }) => ({ ...s, charts: (charts ?? []).map(({ file, title }) => ({ file, title })) })),
  };
  mkdirSync(`${outDir}/charts`, { recursive: true });
  for (const s of scenarios) for (const c of s.charts ?? []) writeFileSync(`${outDir}/charts/${c.file}`, `${c.svg}\n`);
  writeFileSync(`${outDir}/results.json`, `${compactJson(result)}\n`);
  const chartBase = official ? 'bench/results/charts' : 'charts';
  writeFileSync(`${outDir}/summary.md`, markdownSummary(result, { chartBase }));
  progress(`wrote ${outDir.replace(`${root}/`, '')}/{results.json,summary.md,charts/} in ${clock()}`);
  if (opts.quick) process.stdout.write('\n(--quick: smoke mode, figures are not for quoting)\n');
  rmSync(tmpDir, { recursive: true, force: true });
  if (failed) {
    process.stderr.write(`bench: ${failed} scenario(s) failed\n`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  rmSync(tmpDir, { recursive: true, force: true });
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exit(1);
});
