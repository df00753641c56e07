// One LLM-function sample, run in a fresh process by the harness
// (bench/scenarios/llm.mjs):
//
//   node bench/workers/llm-sample.mjs '<json spec>'
//
// spec = { kind, variant, ... }, against the mock LLM server
// (test/support/mock-llm.mjs), whose every reply's content is the JSON of a
// Person. Variants:
//   brake   engine.call('Extract', [text]) on the programs below (dist/)
//   baml    b.Extract(text) through the client baml-cli generated from
//           bench/peers/baml/baml_src/llm.baml (BAML's Node runtime)
//   undici  a hand-written OpenAI client: undici.request with a keep-alive
//           Agent, JSON.parse of the body and of the message content, and a
//           check that name is a string and age an integer
// Kinds:
//   probe          brake only: does the engine compile each program, and does
//                  one call of each give a Person? { extract, flaky }: 'ok' or why not
//   throughput     `inFlight` calls kept pending for durationMs (after
//                  warmupMs), the mock in a process of its own: calls/s,
//                  client CPU per call (this process, all threads), main-thread
//                  event-loop utilisation
//   abortBackoff   `samples` calls of a client with a retry policy (constant
//                  delay 2 s) whose first attempt gets a 500; `waitMs` after
//                  the mock answered it (the client is in its backoff), abort:
//                  abort -> settled, and the requests the mock received after
//                  the aborts (counted `graceMs` after the last one, longer
//                  than the backoff)
//   abortInFlight  `samples` calls whose request the mock never answers;
//                  `waitMs` after it arrived, abort: abort -> settled, and
//                  abort -> the mock sees the connection close
// The abort kinds run the mock in this process, so the mock's times
// (performance.now()) and the client's are one clock.
// Prints one JSON line.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { keepGoing, reasonOf, settled, startMock, waitFor } from '../lib/llm-samples.mjs';

const spec = JSON.parse(process.argv[2]);
const benchDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

const TEXT = 'Ada Lovelace, 36, wrote the first program for the Analytical Engine.';
const PERSON = { name: 'Ada Lovelace', age: 36 };
const REPLY = JSON.stringify(PERSON);

// brake's programs: the function brake and BAML both run (the same source as
// bench/peers/baml/baml_src/llm.baml), and the one with a retry policy.
const PERSON_BAML = `
class Person {
  name string
  age int
}
`;
const EXTRACT_BAML = `${PERSON_BAML}
client<llm> Mock {
  provider openai-generic
  options {
    base_url env.MOCK_BASE_URL
    model "mock-1"
    api_key "unused"
  }
}

function Extract(text: string) -> Person {
  client Mock
  prompt #"
    Extract the person from: {{ text }}
    {{ ctx.output_format }}
  "#
}
`;
const FLAKY_BAML = `${PERSON_BAML}
retry_policy Slow {
  max_retries 3
  strategy {
    type constant_delay
    delay_ms 2000
  }
}

client<llm> Flaky {
  provider openai-generic
  retry_policy Slow
  options {
    base_url env.MOCK_BASE_URL
    model "flaky"
    api_key "unused"
  }
}

function ExtractFlaky(text: string) -> Person {
  client Flaky
  prompt #"
    Extract the person from: {{ text }}
    {{ ctx.output_format }}
  "#
}
`;

// The hand-written client sends what BAML's runtime sends for this function
// (one system message: the rendered prompt with BAML's output format).
const PROMPT = (text) => `Extract the person from: ${text}\nAnswer in JSON using this schema:\n{\n  name: string,\n  age: int,\n}`;

function checkPerson(p) {
  if (typeof p?.name !== 'string' || !Number.isInteger(p?.age)) throw new Error(`not a Person: ${JSON.stringify(p)?.slice(0, 200)}`);
  return p;
}

/** The client: { extract(text, signal), flaky(text, signal), close() }. */
async function client(url) {
  const base = `${url}/v1`;
  if (spec.variant === 'brake') {
    const { Engine } = await import('../../dist/index.mjs');
    const source = spec.kind === 'abortBackoff' ? FLAKY_BAML : EXTRACT_BAML;
    const engine = await Engine.fromSource(source, { env: { MOCK_BASE_URL: base }, workerThreads: spec.workers ?? 0 });
    return {
      extract: (text, signal) => engine.call('Extract', [text], signal ? { signal } : undefined),
      flaky: (text, signal) => engine.call('ExtractFlaky', [text], signal ? { signal } : undefined),
      close: () => engine.close(),
    };
  }
  if (spec.variant === 'baml') {
    // The generated client reads the environment on each call.
    process.env.MOCK_BASE_URL = base;
    require('tsx/cjs/api').register();
    const { b } = require(`${benchDir}/peers/baml/baml_client/index.ts`);
    return {
      extract: (text, signal) => b.Extract(text, signal ? { signal } : undefined),
      flaky: (text, signal) => b.ExtractFlaky(text, signal ? { signal } : undefined),
      close: async () => {},
    };
  }
  if (spec.variant === 'undici') {
    const { request, Agent } = require('undici');
    const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    const headers = { 'content-type': 'application/json', authorization: 'Bearer unused' };
    const extract = async (text, signal) => {
      const body = JSON.stringify({ model: 'mock-1', messages: [{ role: 'system', content: PROMPT(text) }] });
      const r = await request(`${base}/chat/completions`, { method: 'POST', headers, body, dispatcher: agent, signal });
      const reply = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}: ${reply.slice(0, 200)}`);
      const person = JSON.parse(JSON.parse(reply).choices[0].message.content);
      if (typeof person?.name !== 'string' || !Number.isInteger(person?.age)) throw new Error('the reply is not a Person');
      return { name: person.name, age: person.age };
    };
    return { extract, close: () => agent.destroy() };
  }
  if (spec.variant === 'floor') {
    // The floor of "abort in a backoff": the same first request (answered
    // 500), then a promise whose only work on abort is one listener
    // rejecting it. Nothing that stops real work can settle faster.
    const { request, Agent } = require('undici');
    const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    const headers = { 'content-type': 'application/json', authorization: 'Bearer unused' };
    const flaky = (text, signal) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ model: 'flaky', messages: [{ role: 'system', content: PROMPT(text) }] });
        request(`${base}/chat/completions`, { method: 'POST', headers, body, dispatcher: agent })
          .then((r) => r.body.text())
          .catch(() => {});
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    return { flaky, close: () => agent.destroy() };
  }
  throw new Error(`unknown variant ${spec.variant}`);
}

async function probe() {
  const { Engine, CompileError } = await import('../../dist/index.mjs');
  const mock = await startMock(REPLY, { ownProcess: false });
  const out = {};
  for (const [key, src, fn] of [['extract', EXTRACT_BAML, 'Extract'], ['flaky', FLAKY_BAML, 'ExtractFlaky']]) {
    let engine;
    try {
      engine = await Engine.fromSource(src, { env: { MOCK_BASE_URL: `${mock.url}/v1` } });
    } catch (error) {
      out[key] = error instanceof CompileError ? `the engine does not compile the program (${reasonOf(error)})` : `Engine.fromSource failed (${reasonOf(error)})`;
      continue;
    }
    try {
      checkPerson(await engine.call(fn, [TEXT], { timeoutMs: 10_000 }));
      out[key] = 'ok';
    } catch (error) {
      out[key] = `the program compiles but a call fails (${reasonOf(error)})`;
    }
    await engine.close();
  }
  await mock.close();
  return out;
}

async function throughput(c) {
  const { n, seconds, cpuUs, elu } = await keepGoing(spec, spec.inFlight, async () => checkPerson(await c.extract(TEXT)));
  return { callsPerSec: n / seconds, cpuUsPerCall: cpuUs / n, elu };
}

async function abortBackoff(c, mock) {
  const settle = [];
  const total = spec.warmup + spec.samples;
  const flakyRequests = () => mock.requests.filter((r) => r.body?.model === 'flaky');
  for (let i = 0; i < total; i++) {
    mock.enqueue({ status: 500 }, { model: 'flaky' });
    const n0 = mock.requests.length;
    const ac = new AbortController();
    const p = settled(c.flaky(TEXT, ac.signal));
    p.catch(() => {});
    await waitFor(() => mock.requests.length > n0 && mock.requests[n0].answered, 'the first attempt (answered 500)');
    await sleep(spec.waitMs);
    if (mock.requests.length !== n0 + 1) throw new Error('a second attempt arrived before the abort: the client did not back off');
    const t0 = performance.now();
    ac.abort();
    const at = await p;
    if (i >= spec.warmup) settle.push((at - t0) * 1000);
  }
  // Longer than the backoff: any attempt the aborts did not stop arrives meanwhile.
  await sleep(spec.graceMs);
  return { settleUs: settle, requestsAfterAbort: flakyRequests().length - total };
}

async function abortInFlight(c, mock) {
  const settle = [];
  const close = [];
  const total = spec.warmup + spec.samples;
  for (let i = 0; i < total; i++) {
    mock.enqueue({ hang: true }, { model: 'mock-1' });
    const n0 = mock.requests.length;
    const ac = new AbortController();
    const p = settled(c.extract(TEXT, ac.signal));
    p.catch(() => {});
    await waitFor(() => mock.requests.length > n0, 'the request');
    await sleep(spec.waitMs);
    const record = mock.requests[n0];
    const t0 = performance.now();
    ac.abort();
    const at = await p;
    const closedAt = await mock.waitForClose(record, 5000);
    if (closedAt === undefined) throw new Error('the mock did not see the connection close within 5 s of the abort');
    if (i >= spec.warmup) {
      settle.push((at - t0) * 1000);
      close.push((closedAt - t0) * 1000);
    }
  }
  await sleep(spec.graceMs ?? 0);
  return { settleUs: settle, closeUs: close, requestsAfterAbort: mock.requests.length - total };
}

if (spec.kind === 'probe') {
  process.stdout.write(`${JSON.stringify(await probe())}\n`);
  process.exit(0);
}
const server = await startMock(REPLY, { ownProcess: spec.kind === 'throughput' });
const c = await client(server.url);
const kinds = { throughput, abortBackoff, abortInFlight };
const result = await kinds[spec.kind](c, server.mock);
await c.close();
await server.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
