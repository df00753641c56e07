// One streaming sample, run in a fresh process by the harness
// (bench/scenarios/stream.mjs):
//
//   node bench/workers/stream-sample.mjs '<json spec>'
//
// spec = { kind, variant, ... }, against the mock LLM server
// (test/support/mock-llm.mjs) streaming a Profile's JSON word by word (one
// SSE event per word). Variants:
//   brake   engine.stream('Describe', [text]): for await over its events (dist/)
//   baml    b.stream.Describe(text): for await over its partials, then
//           getFinalResponse() (BAML's Node runtime, the client baml-cli
//           generated from bench/peers/baml/baml_src/stream.baml)
//   fetch   fetch with stream: true and a hand-written SSE parser over the
//           body's reader (TextDecoder, split on blank lines, JSON.parse of
//           each event), JSON.parse of the joined text at the end
// Kinds:
//   probe          brake only: does one stream give a Profile? { describe: 'ok' or why not }
//   abortMidStream `samples` sequential streams (after `warmup`) whose events
//                  come every `chunkDelayMs`; `waitMs` after the first text
//                  arrived, abort: abort -> the stream settled (its final
//                  value / pending read rejected), and abort -> the mock sees
//                  the connection close (the mock in this process: one clock)
//   watch          brake only (variants streamed / call / plain): see watch() below
//   tokens         `concurrency` streams kept going for durationMs (after
//                  warmupMs), each read to its end, the mock in a process of
//                  its own: streamed tokens (SSE content events) per second,
//                  client CPU per token, main-thread event-loop utilisation
// Prints one JSON line.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { keepGoing, reasonOf, settled, startMock, waitFor } from '../lib/llm-samples.mjs';

const spec = JSON.parse(process.argv[2]);
const benchDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

const TEXT = 'Ada Lovelace, 36, wrote the first program for the Analytical Engine.';
const BIO = Array.from({ length: 96 }, (_, i) => `word${i}`).join(' ');
const PROFILE = { name: 'Ada Lovelace', age: 36, bio: BIO };
const REPLY = JSON.stringify(PROFILE);
// What the mock streams: one event per word (with its following space).
const TOKENS = REPLY.match(/\S+\s*|\s+/g).length;

// brake's program: the same source as bench/peers/baml/baml_src/stream.baml.
const DESCRIBE_BAML = `
class Profile {
  name string
  age int
  bio string
}

client<llm> Streamer {
  provider openai-generic
  options {
    base_url env.MOCK_BASE_URL
    model "stream-1"
    api_key "unused"
  }
}

function Describe(text: string) -> Profile {
  client Streamer
  prompt #"
    Describe the person in: {{ text }}
    {{ ctx.output_format }}
  "#
}
`;
const PROMPT = (text) => `Describe the person in: ${text}\nAnswer in JSON using this schema:\n{\n  name: string,\n  age: int,\n  bio: string,\n}`;

function checkProfile(p) {
  if (p?.name !== PROFILE.name || p?.age !== PROFILE.age || p?.bio !== BIO) throw new Error(`not the Profile: ${JSON.stringify(p)?.slice(0, 200)}`);
  return p;
}

/**
 * The client: stream(text, signal, onText) reads one stream to its end,
 * calling onText() at its first text, and resolves with the final Profile;
 * `pending` is the promise that settles when an aborted stream has stopped.
 */
async function client(url) {
  const base = `${url}/v1`;
  if (spec.variant === 'brake') {
    const { Engine } = await import('../../dist/index.mjs');
    const engine = await Engine.fromSource(DESCRIBE_BAML, { env: { MOCK_BASE_URL: base } });
    return {
      stream(text, signal, onText) {
        const s = engine.stream('Describe', [text], signal ? { signal } : undefined);
        const read = (async () => {
          let first = true;
          for await (const ev of s) {
            if (first && ev.kind === 'delta') {
              first = false;
              onText?.();
            }
          }
        })();
        read.catch(() => {});
        return s.final;
      },
      close: () => engine.close(),
    };
  }
  if (spec.variant === 'baml') {
    process.env.MOCK_BASE_URL = base;
    require('tsx/cjs/api').register();
    const { b } = require(`${benchDir}/peers/baml/baml_client/index.ts`);
    return {
      stream(text, signal, onText) {
        const s = b.stream.Describe(text, signal ? { signal } : undefined);
        const read = (async () => {
          let first = true;
          for await (const partial of s) {
            if (first && partial?.name) {
              first = false;
              onText?.();
            }
          }
        })();
        read.catch(() => {});
        return s.getFinalResponse();
      },
      close: async () => {},
    };
  }
  if (spec.variant === 'fetch') {
    const headers = { 'content-type': 'application/json', authorization: 'Bearer unused' };
    return {
      async stream(text, signal, onText) {
        const body = JSON.stringify({ model: 'stream-1', stream: true, messages: [{ role: 'system', content: PROMPT(text) }] });
        const res = await fetch(`${base}/chat/completions`, { method: 'POST', headers, body, signal });
        if (!res.ok) throw new Error(`status ${res.status}`);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffered = '';
        let reply = '';
        let first = true;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffered += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = event
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trimStart())
              .join('\n');
            if (!data || data === '[DONE]') continue;
            const piece = JSON.parse(data).choices?.[0]?.delta?.content;
            if (piece) {
              reply += piece;
              if (first) {
                first = false;
                onText?.();
              }
            }
          }
        }
        return JSON.parse(reply);
      },
      close: async () => {},
    };
  }
  throw new Error(`unknown variant ${spec.variant}`);
}

async function probe() {
  const mock = await startMock(REPLY, { ownProcess: false });
  let out;
  try {
    const c = await client(mock.url);
    checkProfile(await c.stream(TEXT));
    await c.close();
    out = { describe: 'ok' };
  } catch (error) {
    out = { describe: `a stream fails (${reasonOf(error)})` };
  }
  await mock.close();
  return out;
}

async function abortMidStream(c, mock) {
  const settle = [];
  const close = [];
  const total = spec.warmup + spec.samples;
  for (let i = 0; i < total; i++) {
    mock.enqueue({ chunkDelayMs: spec.chunkDelayMs }, { model: 'stream-1' });
    const n0 = mock.requests.length;
    const ac = new AbortController();
    let text = false;
    const p = settled(c.stream(TEXT, ac.signal, () => (text = true)));
    p.catch(() => {});
    await waitFor(() => text, 'the first text');
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
  return { settleUs: settle, closeUs: close };
}

async function tokens(c) {
  const { n, seconds, cpuUs, elu } = await keepGoing(spec, spec.concurrency, async () => checkProfile(await c.stream(TEXT)));
  return { tokensPerSec: (n * TOKENS) / seconds, streamsPerSec: n / seconds, cpuUsPerToken: n ? cpuUs / (n * TOKENS) : null, elu, tokensPerStream: TOKENS };
}

// watch: a loop of `n` assignments to a `watch let` variable, `repeat`
// times: streamed (every watch event read), called without a stream, and
// the same loop on a plain `let`; the median time of a loop, the watch
// events read per streamed loop, and the main thread's event-loop
// utilisation while streamed loops run.
const WATCH_BAML = `
function watched(n: int) -> int {
  watch let done = 0;
  for (let i = 0; i < n; i += 1) { done += 1; }
  done
}
function plain(n: int) -> int {
  let done = 0;
  for (let i = 0; i < n; i += 1) { done += 1; }
  done
}
`;
async function watch() {
  const { Engine } = await import('../../dist/index.mjs');
  const { performance: perf } = await import('node:perf_hooks');
  const engine = await Engine.fromSource(WATCH_BAML);
  const one = async () => {
    if (spec.variant === 'streamed') {
      const s = engine.stream('watched', [spec.n]);
      let events = 0;
      let last;
      for await (const ev of s) if (ev.kind === 'watch') (events++, (last = ev.value));
      if ((await s.final) !== spec.n || last !== spec.n) throw new Error(`watched loop: final ${last}`);
      return events;
    }
    const r = await engine.call(spec.variant === 'call' ? 'watched' : 'plain', [spec.n]);
    if (r !== spec.n) throw new Error(`loop returned ${r}`);
    return 0;
  };
  await one(); // warm-up
  const ms = [];
  const events = [];
  const elu0 = perf.eventLoopUtilization();
  for (let r = 0; r < spec.repeat; r++) {
    const t0 = performance.now();
    events.push(await one());
    ms.push(performance.now() - t0);
  }
  const elu = perf.eventLoopUtilization(elu0).utilization;
  await engine.close();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ms: median(ms), events: median(events), elu };
}

if (spec.kind === 'watch') {
  process.stdout.write(`${JSON.stringify(await watch())}\n`);
  process.exit(0);
}
if (spec.kind === 'probe') {
  process.stdout.write(`${JSON.stringify(await probe())}\n`);
  process.exit(0);
}
const server = await startMock(REPLY, { ownProcess: spec.kind === 'tokens' });
const c = await client(server.url);
const kinds = { abortMidStream, tokens };
const result = await kinds[spec.kind](c, server.mock);
await c.close();
await server.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
