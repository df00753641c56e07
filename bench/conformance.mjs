// Measures how much of BAML's language brake runs: every case of the shared
// conformance corpus (../shared/conformance/baml-corpus.jsonl, BAML's own test
// suite as data) through the TypeScript API, counted per source file.
//
//   npm run conformance [-- --corpus PATH] [--prompts PATH] [--sap PATH] [--only language|prompts|output_format|sap]
//                          [--verbose] [--json OUT]
//
// Then the prompt records of ../shared/conformance/prompt-render.jsonl
// (bench/conformance-prompts.mjs), its ctx.output_format records
// (bench/conformance-output-format.mjs) and BAML's parser cases of
// ../shared/conformance/sap-corpus.jsonl (bench/conformance-sap.mjs), each
// pass rate per category.
//
// A yardstick, not a test: failures are expected while the language grows.
// A case with a `mock_server` gets one on 127.0.0.1 (its method and path
// answered with its status and body after its delay_ms; {URI} in the source
// and the expectation becomes its address). Cancellation cases are run as
// written: the call's signal is aborted before the call or cancel_after_ms
// into it (cancel_repeat times), and it must settle as cancelled within
// max_elapsed_ms. A case's environment variables go to the engine's env
// option. Cases that need a second call run beside them are counted as skipped. A `"phase": "compile"` case
// passes when compilation fails with the expected text.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CancelledError, CompileError, Engine } from '../dist/index.mjs';
import { promptRecords, runPromptRecord } from './conformance-prompts.mjs';
import { outputFormatRecords, runOutputFormatRecord } from './conformance-output-format.mjs';
import { closeSapEngines, runSapRecord, sapCategory } from './conformance-sap.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const corpusPath = resolve(option('--corpus', resolve(here, '../../shared/conformance/baml-corpus.jsonl')));
const promptsPath = resolve(option('--prompts', resolve(here, '../../shared/conformance/prompt-render.jsonl')));
const sapPath = resolve(option('--sap', resolve(here, '../../shared/conformance/sap-corpus.jsonl')));
const only = option('--only', null);
const readJsonl = (path) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const percent = (n, of) => `${of ? ((100 * n) / of).toFixed(1) : '0.0'}%`;
const verbose = flag('--verbose');

// Tagged corpus values -> JS arguments.
function toJs(tagged) {
  const [kind, v] = Object.entries(tagged)[0];
  switch (kind) {
    case 'int': return Number.isSafeInteger(v) ? v : BigInt(v);
    case 'float': return v;
    case 'bool': case 'string': return v;
    case 'null': return null;
    case 'array': return v.map(toJs);
    case 'map': return Object.fromEntries(v.map(([k, x]) => [k, toJs(x)]));
    case 'instance': return Object.fromEntries(v.fields.map(([k, x]) => [k, toJs(x)]));
    case 'variant': return v.value;
    default: throw new Error(`unknown tag ${kind}`);
  }
}

// Does a JS result equal a tagged expectation? (ints and floats compare by value)
function matches(tagged, actual) {
  const [kind, v] = Object.entries(tagged)[0];
  switch (kind) {
    case 'int': return (typeof actual === 'number' || typeof actual === 'bigint') && BigInt(actual) === BigInt(v);
    case 'float': return typeof actual === 'number' && (actual === v || (Number.isNaN(actual) && Number.isNaN(v)));
    case 'bool': case 'string': return actual === v;
    case 'null': return actual === null;
    case 'array': return Array.isArray(actual) && actual.length === v.length && v.every((x, i) => matches(x, actual[i]));
    case 'map': {
      if (!actual || typeof actual !== 'object') return false;
      const keys = Object.keys(actual);
      return keys.length === v.length && v.every(([k, x]) => k in actual && matches(x, actual[k]));
    }
    case 'instance': {
      if (!actual || typeof actual !== 'object') return false;
      return v.fields.every(([k, x]) => k in actual && matches(x, actual[k]));
    }
    case 'variant': return actual === v.value;
    default: return false;
  }
}

function skipReason(c) {
  if (c.concurrent_with) return 'runs beside another case';
  return null;
}

// The case's mock server: resolves to { uri, close() }.
async function startMockServer(spec) {
  const server = http.createServer((req, res) => {
    if (req.method !== (spec.method ?? 'GET') || req.url !== spec.path) return res.writeHead(404).end();
    const send = () => res.writeHead(spec.status ?? 200).end(spec.body ?? '');
    if (!spec.delay_ms) return send();
    const t = setTimeout(send, spec.delay_ms);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    uri: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

async function runCase(c) {
  if (!c.mock_server) return runWith(c);
  const mock = await startMockServer(c.mock_server);
  try {
    const sub = (x) => JSON.parse(JSON.stringify(x).replaceAll('{URI}', mock.uri));
    return await runWith({ ...c, source: c.source.replaceAll('{URI}', mock.uri), expected: sub(c.expected), args: sub(c.args) });
  } finally {
    await mock.close();
  }
}

async function runWith(c) {
  const expectError = c.expected && 'error' in c.expected;
  let engine;
  try {
    // The case's environment goes to the engine's env option (null: unset);
    // scripts never read the process environment. Shell cases get an engine
    // that allows baml.sys.shell (off by default).
    const env = c.env ? Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, v ?? undefined])) : undefined;
    engine = await Engine.fromSource(c.source, { workerThreads: 1, env, allowShell: c.constructs?.includes('shell') ?? false });
  } catch (error) {
    if (error instanceof CompileError) {
      const text = error.diagnostics.map((d) => d.message).join('\n');
      if (expectError && c.expected.phase === 'compile') {
        return text.toLowerCase().includes(String(c.expected.error).toLowerCase()) ? ['pass'] : ['fail', `compile error without "${c.expected.error}": ${text}`];
      }
      return ['fail', `compile error: ${error.diagnostics[0]?.line}:${error.diagnostics[0]?.column} ${error.diagnostics[0]?.message}`];
    }
    throw error;
  }
  try {
    if (expectError && c.expected.phase === 'compile') return ['fail', 'compiled, but a compile error was expected'];
    if (c.expected?.cancelled) {
      const controller = new AbortController();
      const cancel = () => {
        for (let i = 0; i < (c.cancel_repeat ?? 1); i++) controller.abort();
      };
      if (c.cancel_before_call) cancel();
      const t0 = performance.now();
      const timer = c.cancel_after_ms !== undefined ? setTimeout(cancel, c.cancel_after_ms) : undefined;
      try {
        const value = await engine.call(c.entry, c.args.map(toJs), { signal: controller.signal, timeoutMs: 10_000 });
        return ['fail', `returned ${JSON.stringify(value)}, expected a cancellation`];
      } catch (error) {
        const took = performance.now() - t0;
        if (!(error instanceof CancelledError) || error.origin !== 'signal') return ['fail', `${error.name}: ${error.message}`];
        if (c.max_elapsed_ms !== undefined && took > c.max_elapsed_ms) return ['fail', `cancelled after ${took.toFixed(0)} ms`];
        return ['pass'];
      } finally {
        clearTimeout(timer);
      }
    }
    const value = await engine.call(c.entry, c.args.map(toJs), { timeoutMs: 10_000 });
    if (expectError) return ['fail', `returned ${JSON.stringify(value, (k, x) => (typeof x === 'bigint' ? `${x}n` : x))}, expected an error`];
    return matches(c.expected, value) ? ['pass'] : ['fail', `got ${JSON.stringify(value, (k, x) => (typeof x === 'bigint' ? `${x}n` : x))}`];
  } catch (error) {
    if (expectError) {
      const text = `${error.message} ${error.kind ?? ''}`.toLowerCase();
      return text.includes(String(c.expected.error).toLowerCase()) ? ['pass'] : ['fail', `error without "${c.expected.error}": ${error.message}`];
    }
    return ['fail', `${error.name}: ${error.message}`];
  } finally {
    await engine.close();
  }
}

const results = {};

// The language: BAML's own test programs.
if (!only || only === 'language') {
  const cases = readJsonl(corpusPath);
  const perFile = new Map();
  const failures = [];
  for (const c of cases) {
    const file = c.id.split('::')[0];
    const row = perFile.get(file) ?? { pass: 0, fail: 0, skip: 0 };
    perFile.set(file, row);
    if (skipReason(c)) {
      row.skip++;
      continue;
    }
    const [outcome, why] = await runCase(c);
    row[outcome]++;
    if (outcome === 'fail') failures.push(`${c.id}: ${why}`);
  }
  const total = { pass: 0, fail: 0, skip: 0 };
  console.log('file'.padEnd(40), 'pass'.padStart(5), 'fail'.padStart(5), 'skip'.padStart(5));
  for (const [file, row] of [...perFile].sort()) {
    console.log(file.padEnd(40), String(row.pass).padStart(5), String(row.fail).padStart(5), String(row.skip).padStart(5));
    for (const k of Object.keys(total)) total[k] += row[k];
  }
  const ran = total.pass + total.fail;
  console.log(`\nconformance: ${total.pass} of ${ran} run cases pass (${percent(total.pass, ran)}), ${total.skip} skipped, ${cases.length} in the corpus`);
  if (verbose) for (const f of failures) console.log('  FAIL', f);
  results.language = { total, perFile: Object.fromEntries(perFile), failures };
}

// Prompt templates: BAML's renderings of templates, arguments and client roles.
if (!only || only === 'prompts') {
  const records = promptRecords(readJsonl(promptsPath));
  const prompts = { pass: 0, fail: 0 };
  const failures = [];
  for (const r of records) {
    const [outcome, why] = await runPromptRecord(r);
    prompts[outcome]++;
    if (outcome === 'fail') failures.push(`${r.id}: ${why}`);
  }
  console.log(
    `prompts: ${prompts.pass} of ${records.length} prompt-render records (render_prompt, function_prompt, jinja_template) pass (${percent(prompts.pass, records.length)})`,
  );
  if (verbose) for (const f of failures) console.log('  FAIL', f);
  results.prompts = { ...prompts, failures };
}

// ctx.output_format: BAML's renderings of the output format for schemas and options.
if (!only || only === 'output_format') {
  const records = outputFormatRecords(readJsonl(promptsPath));
  const row = { pass: 0, fail: 0 };
  const failures = [];
  for (const r of records) {
    const { outcome, reason } = await runOutputFormatRecord(r);
    row[outcome]++;
    if (outcome === 'fail') failures.push(`${r.id}: ${reason}`);
  }
  console.log(`output formats: ${row.pass} of ${records.length} ctx.output_format records pass (${percent(row.pass, records.length)})`);
  if (verbose) for (const f of failures) console.log('  FAIL', f);
  results.outputFormat = { ...row, failures };
}

// Typed outputs: BAML's parser cases through engine.parse, per category.
if (!only || only === 'sap') {
  const records = readJsonl(sapPath);
  const rows = {};
  const failures = [];
  for (const r of records) {
    const category = sapCategory(r);
    const row = (rows[category] ??= { pass: 0, fail: 0 });
    const { outcome, reason } = await runSapRecord(r);
    row[outcome]++;
    if (outcome === 'fail') failures.push(`[${category}] ${r.id}: ${reason}`);
  }
  await closeSapEngines();
  const line = (c, what) => {
    const row = rows[c] ?? { pass: 0, fail: 0 };
    return `${row.pass} of ${row.pass + row.fail} ${what} (${percent(row.pass, row.pass + row.fail)})`;
  };
  console.log(`typed outputs: ${line('complete', 'complete parses')}, ${line('failing', 'failing parses')}, ${line('partial', 'partial parses')}; ${line('score', 'score-only cases')}`);
  if (verbose) for (const f of failures) console.log('  FAIL', f);
  results.sap = { ...rows, failures };
}

const out = option('--json', null);
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
