// One AbortSignal for a whole batch: 10,000 calls share it, one abort stops
// them all, and the signal is left with no listener (brake adds one per
// signal, not one per call). Run: npx tsx examples/shared-signal-batch.mts
import { CancelledError, Engine } from '../lib/index';

const engine = await Engine.fromSource(`
function fetch_page(n: int) -> int {
  baml.sys.sleep(3000);           // stands for an HTTP request or an LLM call
  n
}
`);

const batch = new AbortController();
const started = performance.now();
const calls = Array.from({ length: 10_000 }, (_, n) => engine.call('fetch_page', [n], { signal: batch.signal }));
setTimeout(() => batch.abort(new Error('the user cancelled the batch')), 100);
const results = await Promise.allSettled(calls);
const cancelled = results.filter((r) => r.status === 'rejected' && r.reason instanceof CancelledError).length;
console.log(`${cancelled} of ${calls.length} calls cancelled by one abort, all settled ${(performance.now() - started).toFixed(0)} ms after the start`);
console.log(`live calls left: ${engine.liveCalls}`);
await engine.close();
