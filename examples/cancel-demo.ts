// A tour of cancellation: run with `npm run demo` (after `npm install`).
// Starts scripts that sleep, compute and loop on brake's own threads, and stops them
// with an AbortSignal, engine.cancel(id), a deadline and engine.close().
import { CancelledError, Engine, TimeoutError } from '../lib/index';

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
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
