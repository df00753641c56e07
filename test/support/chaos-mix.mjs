// The chaos mix, shared by test/js/09-chaos.test.ts (which asserts on it)
// and the benchmark harness (bench/workers/hardening-sample.mjs, which
// reports its figures): calls of every kind on one engine (sleeps, compute
// loops, HTTP requests, host functions, LLM calls with a retry policy and
// LLM streams read to their end) against the test HTTP server and the mock
// LLM server, cancelled by engine.cancel, a signal or a deadline at random
// moments. Every call must settle once with its value, a CancelledError, or
// a TimeoutError exactly when its deadline was the cause.
//
// The library is passed in (lib/ under vitest, dist/ in the harness).

/** A seeded random source in [0, 1) (mulberry32). */
export function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `total` calls with at most `inFlight` of them unsettled: `start(i,
 * settle, problem)` starts call i and calls settle(outcome) when it
 * settles. Resolves once every call settled (or, with `deadlineMs`, once
 * that long has passed: the calls not settled by then are `lost`), with how
 * many settled with each outcome, the problems reported (a call settling
 * twice is one), each call's settle count and the calls per second.
 */
export async function churn(total, inFlight, start, { deadlineMs = 0 } = {}) {
  const t0 = performance.now();
  const settled = new Uint8Array(total);
  const counts = {};
  const problems = [];
  let started = 0;
  let done = 0;
  let twice = 0;
  await new Promise((resolve) => {
    const timer = deadlineMs > 0 ? setTimeout(resolve, deadlineMs) : undefined;
    const pump = () => {
      while (started - done < inFlight && started < total) {
        const i = started++;
        const settle = (outcome) => {
          counts[outcome] = (counts[outcome] ?? 0) + 1;
          if (settled[i]++ !== 0) {
            twice++;
            problems.push(`call ${i} settled twice`);
            return;
          }
          if (++done === total) {
            clearTimeout(timer);
            resolve();
          } else pump();
        };
        start(i, settle, (what) => problems.push(what));
      }
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  return { counts, problems, settled, callsPerSec: done / seconds, lost: total - done, twice };
}

export const MIXED_SOURCE = `
class Person {
  name string
  age int
}
retry_policy Again {
  max_retries 1
  strategy { type constant_delay delay_ms 3 }
}
client<llm> Mock {
  provider openai-generic
  retry_policy Again
  options { base_url env.MOCK_V1 model "chaos" api_key "sk-test" }
}
function Extract(text: string) -> Person {
  client Mock
  prompt #"Extract the person from: {{ text }} {{ ctx.output_format }}"#
}
function nap(ms: int) -> int {
  baml.sys.sleep(ms);
  ms
}
function compute(n: int) -> int {
  let s = 0;
  for (let i = 0; i < n; i += 1) { s += i; }
  s
}
function get(url: string) -> string {
  let r = baml.http.fetch(url);
  let e = r.error;
  if (e != null) { "error" } else { r.text() }
}
function via_host(x: int) -> int { later(x) + 1 }
function llm(text: string) -> string { Extract(text).name }
`;

/** What the mock LLM server must answer for the mix's LLM calls (servers-process.mjs's argument). */
export const MIXED_REPLY = '```json\n{"name": "Ada", "age": 36}\n```';

const KINDS = ['nap', 'compute', 'get', 'host', 'llm', 'stream'];
const MOMENTS = ['never', 'queued', 'soon', 'later', 'signal', 'deadline'];

/**
 * An engine for the mix (2 workers, the host function `later`) against the
 * servers at urls {http, llm}, and round(total, options) running `total`
 * calls of random kinds and moments through churn (500 in flight; options
 * go to churn), and quiet() waiting (up to 5 s) until nothing is live,
 * waiting on the host or in flight.
 */
export async function mixedChaos({ Engine, CancelledError, TimeoutError }, urls, random) {
  const e = await Engine.fromSource(MIXED_SOURCE, {
    workerThreads: 2,
    env: { MOCK_V1: `${urls.llm}/v1` },
    host: {
      later: {
        signature: '(x: int) -> int',
        fn: ([x], { signal }) =>
          new Promise((resolve, reject) => {
            const t = setTimeout(() => resolve(x), Math.floor(Math.random() * 4)); // (not the seeded source: its draws would depend on timing)
            signal.addEventListener('abort', () => {
              clearTimeout(t);
              reject(signal.reason);
            }, { once: true });
          }),
      },
    },
  });
  let nextId = 1;
  // A stream read to its end (or its stop) in the background: its final value.
  const streamed = (s, problem, i) => {
    (async () => {
      let attempts = 0;
      for await (const ev of s) if (ev.kind === 'attempt') attempts++;
      if (attempts === 0) problem(`stream ${i}: no attempt event before its end`);
    })().catch(() => {}); // (a stopped stream's error is final's)
    return s.final;
  };
  const round = (total, options) =>
    churn(total, 500, (i, finish, problem) => {
      const kind = KINDS[Math.floor(random() * KINDS.length)];
      const moment = MOMENTS[Math.floor(random() * MOMENTS.length)];
      const id = nextId++;
      const n = Math.floor(random() * 5);
      const [fn, args, expected] =
        kind === 'nap' ? ['nap', [n], n]
        : kind === 'compute' ? ['compute', [20_000 + n], ((20_000 + n) * (19_999 + n)) / 2]
        : kind === 'get' ? ['get', [`${urls.http}/slow?ms=${n}`], 'done']
        : kind === 'host' ? ['via_host', [n], n + 1]
        : ['llm', [`person ${n}`], 'Ada']; // (llm and stream)
      const delay = moment === 'soon' ? random() * 2 : 2 + random() * 10;
      let signal;
      if (moment === 'signal') {
        const ac = new AbortController();
        signal = ac.signal;
        setTimeout(() => ac.abort('gave up'), delay);
      }
      const timeoutMs = moment === 'deadline' ? 1 + Math.floor(random() * 8) : 0;
      const callOptions = { callId: id, signal, timeoutMs };
      const outcome = kind === 'stream' ? streamed(e.stream(fn, args, callOptions), problem, i) : e.call(fn, args, callOptions);
      outcome.then(
        (value) => {
          if (value !== expected) problem(`${kind} ${i} (${moment}): ${String(value)} != ${String(expected)}`);
          finish('value');
        },
        (error) => {
          const timeout = error instanceof TimeoutError;
          if (!(error instanceof CancelledError)) problem(`${kind} ${i} (${moment}): ${error?.name}: ${error?.message}`);
          else if (moment === 'never') problem(`${kind} ${i} cancelled by nobody`);
          else if (timeout !== (moment === 'deadline')) problem(`${kind} ${i} (${moment}): ${error.name}`);
          finish(timeout ? 'timeout' : 'cancelled');
        },
      );
      if (moment === 'queued') e.cancel(id);
      else if (moment === 'soon' || moment === 'later') setTimeout(() => e.cancel(id), delay);
    }, options);
  const quiet = async () => {
    const until = performance.now() + 5000;
    while ((e.liveCalls > 0 || e.pendingHostCalls > 0 || e.httpStats.transfers > 0) && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { engine: e, round, quiet };
}
