// A tour of cancellation: run with `npm run demo` (after `npm install`).
// Starts scripts that sleep, compute and loop on brake's own threads, and stops them
// with an AbortSignal, engine.cancel(id), a deadline and engine.close(); then runs an
// LLM function with retry and fallback against the repository's mock LLM server (no API
// key needed) and cancels it in the middle of a retry backoff.
import { CancelledError, Engine, LlmError, TimeoutError } from '../lib/index';
// @ts-expect-error: a plain ES module without types (shared with the tests and benchmarks)
import { startMockLlm } from '../test/support/mock-llm.mjs';

const source = `
function slow_greeting(name: string, ms: int) -> string {
  baml.sys.sleep(ms);
  "hello, " + name
}
function count_forever() -> int {
  let n = 0;
  while (true) { n += 1; }
  n
}
function sum_to(n: int) -> int {
  let s = 0;
  for (let i = 1; i <= n; i += 1) { s += i; }
  s
}
`;

function elapsed(t0: number): string {
  return `${(performance.now() - t0).toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const engine = await Engine.fromSource(source, { workerThreads: 2 });

  console.log(await engine.call('slow_greeting', ['world', 10]));
  console.log('sum_to(1000000) =', await engine.call('sum_to', { n: 1_000_000 }));

  // 1. An AbortSignal: the reason you pass comes back as `cause`.
  const controller = new AbortController();
  const greeting = engine.call('slow_greeting', ['never', 10_000], { signal: controller.signal });
  setTimeout(() => controller.abort(new Error('user pressed stop')), 50);
  let t0 = performance.now();
  try {
    await greeting;
  } catch (error) {
    if (error instanceof CancelledError) {
      console.log(`signal:  ${error.name} origin=${error.origin} cause="${(error.cause as Error).message}" after ${elapsed(t0)}`);
    }
  }

  // 2. engine.cancel(id) stops even a tight loop.
  const loop = engine.call('count_forever', [], { callId: 42 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t0 = performance.now();
  console.log('cancel(42) found a live call:', engine.cancel(42));
  await loop.catch((error: CancelledError) => console.log(`cancel:  origin=${error.origin} callId=${error.callId} settled in ${elapsed(t0)}`));

  // 3. The engine's own deadline.
  t0 = performance.now();
  await engine
    .call('slow_greeting', ['late', 10_000], { timeoutMs: 30 })
    .catch((error) => console.log(`timeout: ${error instanceof TimeoutError ? 'TimeoutError' : error} after ${elapsed(t0)}`));

  // 4. One signal shared by many calls: one listener, one abort.
  const shared = new AbortController();
  const many = Array.from({ length: 10_000 }, () => engine.call('slow_greeting', ['x', 60_000], { signal: shared.signal }));
  t0 = performance.now();
  shared.abort();
  const results = await Promise.allSettled(many);
  console.log(`shared:  ${results.filter((r) => r.status === 'rejected').length} calls cancelled by one abort() in ${elapsed(t0)}`);

  // 5. close() cancels whatever is still running.
  const pending = engine.call('count_forever');
  await engine.close();
  await pending.catch((error: CancelledError) => console.log(`close:   origin=${error.origin}; live calls now ${engine.liveCalls}`));

  await llmDemo();
}

// An LLM function whose client retries its primary model and then falls back to a second
// one. Pointed at a real provider instead, only the client changes (see README, "LLM
// functions"): provider openai, api_key env.OPENAI_API_KEY, and `env: process.env`.
const llmSource = `
class Person {
  name string
  age int
}
retry_policy Patient {
  max_retries 2
  strategy { type exponential_backoff delay_ms 300 multiplier 2 }
}
client<llm> Primary {
  provider openai-generic
  retry_policy Patient
  options { base_url env.MOCK_URL model "primary" api_key "not-needed" }
}
client<llm> Backup {
  provider openai-generic
  options { base_url env.MOCK_URL model "backup" api_key "not-needed" }
}
client<llm> Resilient {
  provider fallback
  options { strategy [Primary, Backup] }
}
function ExtractPerson(text: string) -> Person {
  client Resilient
  prompt #"
    Extract the person from: {{ text }}
    {{ ctx.output_format }}
  "#
}
`;

async function llmDemo(): Promise<void> {
  const mock = await startMockLlm({ reply: () => '{"name": "Ada Lovelace", "age": 36}' });
  const engine = await Engine.fromSource(llmSource, { env: { MOCK_URL: `${mock.url}/v1` } });
  try {
    // The primary fails twice (500, then 429), its third try answers.
    mock.enqueue([{ status: 500 }, { status: 429 }], { model: 'primary' });
    let t0 = performance.now();
    const person = await engine.call('ExtractPerson', ['Ada Lovelace, 36, wrote the first program']);
    console.log(`llm:     ${JSON.stringify(person)} after ${mock.requests.length} requests in ${elapsed(t0)}`);

    // Every primary attempt fails and the backup too: LlmError lists each attempt.
    mock.enqueue([{ status: 500 }, { status: 500 }, { status: 500 }], { model: 'primary' });
    mock.enqueue({ status: 503 }, { model: 'backup' });
    await engine.call('ExtractPerson', ['nobody']).catch((error) => {
      if (!(error instanceof LlmError)) throw error;
      const attempts = error.attempts.map((a) => `${a.client}:${a.status}`).join(' ');
      console.log(`llm:     LlmError after ${error.attempts.length} attempts (${attempts})`);
    });

    // Cancelled in the middle of the 300 ms backoff after the first failure: the call
    // settles at once and no further request reaches the server.
    mock.enqueue([{ status: 500 }], { model: 'primary' });
    const controller = new AbortController();
    const before = mock.requests.length;
    const call = engine.call('ExtractPerson', ['Grace Hopper, 85'], { signal: controller.signal });
    while (mock.requests.length === before) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the 500 is back; the backoff runs
    t0 = performance.now();
    controller.abort();
    await call.catch((error) => {
      console.log(`llm:     abort mid-backoff -> ${error instanceof CancelledError ? 'CancelledError' : error} in ${elapsed(t0)}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // longer than the backoff
    console.log(`llm:     requests after the abort: ${mock.requests.length - before - 1}`);
  } finally {
    await engine.close();
    await mock.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
