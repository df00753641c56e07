// One HTTP sample, run in a fresh process by the harness:
//
//   node bench/workers/http-sample.mjs '<json spec>'
//
// spec = { kind, variant, ... }. The server runs in a child process of its
// own (the client's CPU is measured on its own): for throughput, nginx when
// the machine has it (bench/lib/nginx.mjs; spec.server 'node' forces the
// other), else Node's http module (bench/workers/http-server-process.mjs),
// which also serves the abort kinds (it reports when sockets close). Variants:
//   brake   baml.http.fetch in a script (this package, from dist/)
//   undici  undici.request with a keep-alive Agent
//   fetch   Node's global fetch
// Kinds:
//   throughput  `inFlight` OpenAI-shaped POSTs kept pending for durationMs:
//               requests/s, client CPU per request (all threads), main-thread
//               event-loop utilisation
//   abort       `samples` requests waiting for headers, each aborted: abort ->
//               promise settled, and abort -> the server sees the socket close
//   massAbort   `calls` requests in flight on one signal, aborted at once: all
//               settled, and every socket closed
//   memory      `calls` requests in flight (waiting for headers): resident
//               memory per request, measured after a GC (run with --expose-gc)
//               against the same process with one request done
// Prints one JSON line.
import { fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { startNginx } from '../lib/nginx.mjs';
import { REPLY } from '../lib/openai-reply.mjs';
import { measureWindow } from '../lib/window.mjs';

const spec = JSON.parse(process.argv[2]);
const here = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);

const BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You answer in one word.' },
    { role: 'user', content: 'What is the capital of France?' },
  ],
  temperature: 0,
});
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' };
const PROGRAM = `
function chat(url: string, body: string) -> int {
  let r = baml.http.fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "authorization": "Bearer sk-bench" },
    body: body,
  });
  let t = r.text();
  r.status_code
}
function slow(url: string) -> string { baml.http.fetch(url).text() }
`;

// ---- the server, and what it tells us
const server = fork(`${here}/http-server-process.mjs`, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const port = await new Promise((resolve) => server.on('message', (m) => m.port && resolve(m.port)));
const closedAt = new Map(); // /slow id -> when its connection closed
let requestsSeen = 0;
server.on('message', (m) => {
  if (m.closes) for (const [at, ids] of m.closes) for (const id of ids) closedAt.set(id, at);
  if (m.request) requestsSeen++;
});
let nextId = 1;
// Throughput against nginx when there is one (the Node server is then idle).
const nginx = spec.kind === 'throughput' && spec.server !== 'node' ? await startNginx(REPLY) : undefined;
const base = `http://127.0.0.1:${port}`;
const chatBase = nginx ? `http://127.0.0.1:${nginx.port}` : base;
const now = () => performance.timeOrigin + performance.now();

// ---- the client
async function client() {
  if (spec.variant.startsWith('brake')) {
    const { Engine } = await import('../../dist/index.mjs');
    const transport = { brake: 'native', 'brake-libcurl': 'libcurl', 'brake-host': 'host' }[spec.variant];
    const engine = await Engine.fromSource(PROGRAM, { workerThreads: spec.workers ?? 0, http: { transport } });
    return {
      chat: () => engine.call('chat', [`${chatBase}/v1/chat/completions`, BODY]),
      slow: (signal, id) => engine.call('slow', [`${base}/slow?id=${id}`], { signal }),
      close: () => engine.close(),
      sockets: transport !== 'host' ? () => engine.httpStats.sockets : undefined,
    };
  }
  if (spec.variant === 'undici') {
    const { request, Agent } = require('undici');
    const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    return {
      chat: async () => {
        const r = await request(`${chatBase}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: BODY, dispatcher: agent });
        await r.body.text();
        return r.statusCode;
      },
      slow: async (signal, id) => {
        const r = await request(`${base}/slow?id=${id}`, { signal, dispatcher: agent });
        return r.body.text();
      },
      close: () => agent.destroy(),
    };
  }
  if (spec.variant === 'floor') {
    // Node itself: one abort listener rejecting a pending promise, no request.
    return {
      slow: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      close: async () => {},
    };
  }
  if (spec.variant === 'fetch') {
    return {
      chat: async () => {
        const r = await fetch(`${chatBase}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: BODY });
        await r.text();
        return r.status;
      },
      slow: async (signal, id) => (await fetch(`${base}/slow?id=${id}`, { signal })).text(),
      close: async () => {},
    };
  }
  throw new Error(`unknown variant ${spec.variant}`);
}

async function throughput(c) {
  let running = true;
  let done = 0;
  let failed = 0;
  const loop = async () => {
    while (running) {
      const status = await c.chat();
      if (status === 200) done++;
      else failed++;
    }
  };
  const loops = Array.from({ length: spec.inFlight }, loop);
  const { n, seconds, cpuUs, elu } = await measureWindow(spec, () => done);
  running = false;
  await Promise.all(loops);
  if (failed) throw new Error(`${failed} requests failed`);
  return { requestsPerSec: n / seconds, cpuUsPerRequest: cpuUs / n, elu, server: nginx ? 'nginx' : 'node' };
}

async function waitFor(cond, what, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

async function abort(c) {
  const settle = [];
  const closed = [];
  for (let i = 0; i < spec.warmup + spec.samples; i++) {
    const seen = requestsSeen;
    const id = nextId++;
    const ac = new AbortController();
    const p = c.slow(ac.signal, id).then(
      () => {
        throw new Error('the request was not aborted');
      },
      () => now(),
    );
    const floor = spec.variant === 'floor';
    if (!floor) await waitFor(() => requestsSeen > seen, 'the request');
    await sleep(2);
    const t0 = now();
    ac.abort();
    const at = await p;
    if (!floor) await waitFor(() => closedAt.has(id), 'the socket to close');
    if (i >= spec.warmup) {
      settle.push((at - t0) * 1000);
      if (!floor) closed.push((closedAt.get(id) - t0) * 1000);
    }
  }
  return { settleUs: settle, closeUs: closed };
}

async function massAbort(c) {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const seen = requestsSeen;
  const n = spec.calls;
  const ids = Array.from({ length: n }, () => nextId++);
  const all = Promise.all(ids.map((id) => c.slow(ac.signal, id).then(() => 0, () => 1)));
  await waitFor(() => requestsSeen - seen >= n, `${n} requests at the server`, 60_000);
  await sleep(20);
  const t0 = now();
  ac.abort();
  const outcomes = await all;
  const settledMs = now() - t0;
  // brake's native transport counts its own sockets: when the last one closed, on this side.
  let clientClosedMs;
  if (c.sockets) {
    while (c.sockets() > 0) await new Promise((r) => setImmediate(r));
    clientClosedMs = now() - t0;
  }
  await waitFor(() => ids.every((id) => closedAt.has(id)), `${n} sockets to close`, 60_000);
  if (outcomes.some((x) => x !== 1)) throw new Error('a request was not aborted');
  return { settledMs, closedMs: Math.max(...ids.map((id) => closedAt.get(id) - t0)), clientClosedMs };
}

async function memory(c) {
  // Warm: the client's code, connection pool and engine exist before the baseline.
  const ac0 = new AbortController();
  const warm = c.slow(ac0.signal, nextId++).catch(() => {});
  await waitFor(() => requestsSeen >= 1, 'the warm-up request');
  ac0.abort();
  await warm;
  await sleep(50);
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const seen = requestsSeen;
  const n = spec.calls;
  const all = Promise.all(Array.from({ length: n }, () => c.slow(ac.signal, nextId++).then(() => 0, () => 1)));
  await waitFor(() => requestsSeen - seen >= n, `${n} requests at the server`, 60_000);
  await sleep(50);
  globalThis.gc?.();
  const rss1 = process.memoryUsage().rss;
  ac.abort();
  await all;
  return { bytesPerRequest: (rss1 - rss0) / n };
}

const c = await client();
const kinds = { throughput, abort, massAbort, memory };
const result = await kinds[spec.kind](c);
await c.close();
await nginx?.stop();
server.disconnect();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
