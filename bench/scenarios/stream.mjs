// Streaming against the mock LLM server (test/support/mock-llm.mjs): abort
// mid-stream (-> settled, -> the mock sees the close) and streamed tokens
// per second through many concurrent streams with the main thread's
// event-loop utilisation. brake (engine.stream) against BAML's own Node
// runtime (b.stream) and fetch with a hand-written SSE parser, one sample
// per process (bench/workers/stream-sample.mjs).
import { quantile, sortNumbers } from '../lib/stats.mjs';
import { variantMeasure } from '../lib/variants.mjs';

export default {
  name: 'stream',
  title: 'Streaming LLM replies: abort mid-stream, tokens per second',
  baml: true,
  async run(ctx) {
    const worker = `${ctx.benchDir}/workers/stream-sample.mjs`;
    const label = {
      brake: 'brake',
      baml: `BAML runtime ${ctx.baml.version ?? ''}`.trim(),
      fetch: 'fetch + hand-written SSE parser',
    };
    const figures = [];
    const notes = [];

    let probe;
    try {
      probe = await ctx.runJson(process.execPath, [worker, JSON.stringify({ kind: 'probe', variant: 'brake' })], { cwd: ctx.root, timeoutMs: 60_000 });
    } catch (error) {
      probe = { describe: `the probe failed: ${error.message.slice(0, 300)}` };
    }
    const why = { brake: probe.describe, baml: ctx.baml.available ? 'ok' : ctx.baml.reason, fetch: 'ok' };

    const measureVariants = variantMeasure(ctx, worker, label, figures);
    const measure = (spec, what, labelOf, make) => measureVariants(['brake', 'baml', 'fetch'], why, spec, what, labelOf, make);
    const per = (rs, fn) => (rs ?? []).map(fn);

    // 1. Abort mid-stream.
    const abort = { kind: 'abortMidStream', samples: ctx.quick ? 20 : 200, warmup: 10, chunkDelayMs: 5, waitMs: 10 };
    await measure(
      abort,
      'abort mid-stream',
      (r) => `settle p50 ${q(r.settleUs, 0.5).toFixed(0)} µs, p99 ${q(r.settleUs, 0.99).toFixed(0)} µs; close p99 ${q(r.closeUs, 0.99).toFixed(0)} µs`,
      (rs) => [
        { metric: 'abort mid-stream → settled p50', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.settleUs, 0.5)) },
        { metric: 'abort mid-stream → settled p99', unit: 'µs', better: 'lower', target: { max: 1000 }, values: per(rs, (r) => q(r.settleUs, 0.99)) },
        { metric: 'abort mid-stream → mock sees the close p50', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.closeUs, 0.5)) },
        { metric: 'abort mid-stream → mock sees the close p99', unit: 'µs', better: 'lower', target: { max: 1000 }, values: per(rs, (r) => q(r.closeUs, 0.99)) },
      ],
    );

    // 2. Tokens per second through many concurrent streams.
    const tokens = { kind: 'tokens', concurrency: ctx.quick ? 100 : 1000, warmupMs: ctx.quick ? 200 : 1000, durationMs: ctx.quick ? 500 : 3000 };
    await measure(
      tokens,
      'tokens/s',
      (r) => `${Math.round(r.tokensPerSec).toLocaleString('en-US')} tokens/s, ${r.cpuUsPerToken?.toFixed(1) ?? 'n/a'} µs CPU/token, ELU ${r.elu.toFixed(2)}`,
      (rs) => [
        { metric: `streamed tokens/s (${tokens.concurrency} streams)`, unit: 'tokens/s', better: 'higher', values: per(rs, (r) => r.tokensPerSec) },
        { metric: 'client CPU per token', unit: 'µs', better: 'lower', values: per(rs, (r) => r.cpuUsPerToken) },
        { metric: 'main-thread event-loop utilisation (streams)', unit: '', better: 'lower', target: { max: 0.5 }, values: per(rs, (r) => r.elu) },
      ],
    );

    // 3. watch events: a tight loop of assignments to a watched variable.
    const watchLabel = { streamed: 'brake, streamed (watch events)', call: 'brake, not streamed', plain: 'brake, plain let' };
    const watchWhy = { streamed: why.brake, call: why.brake, plain: why.brake };
    const watch = { kind: 'watch', n: ctx.quick ? 100_000 : 1_000_000, repeat: ctx.quick ? 2 : 5 };
    await variantMeasure(ctx, worker, watchLabel, figures)(
      ['streamed', 'call', 'plain'],
      watchWhy,
      watch,
      'watch',
      (r) => `${r.ms.toFixed(1)} ms per loop, ${r.events} events, ELU ${r.elu.toFixed(2)}`,
      (rs) => [
        { metric: `watch: loop of ${watch.n.toLocaleString('en-US')} assignments`, unit: 'ms', better: 'lower', values: per(rs, (r) => r.ms) },
        { metric: 'watch: events read per loop', unit: 'events', better: 'lower', values: per(rs, (r) => r.events) },
        { metric: 'watch: main-thread event-loop utilisation', unit: '', better: 'lower', values: per(rs, (r) => r.elu) },
      ],
    );

    if (why.brake !== 'ok') notes.push(`brake unavailable: ${why.brake}.`);
    notes.push(
      `The mock: test/support/mock-llm.mjs (Node's http module) streaming the JSON of a Profile (class Profile { name string age int bio string }, a 96-word bio) as OpenAI chat-completion chunks, one SSE event per word (97 content events: the "tokens"), then a finish chunk and [DONE]. brake: engine.stream('Describe', [text]) read with for await (every event: attempt, deltas, partial Profiles), final checked; BAML: b.stream.Describe(text) (bench/peers/baml/baml_src/stream.baml) read with for await over its partials, then getFinalResponse(), BAML_LOG=error; fetch: POST with stream: true, the body's reader through a hand-written SSE parser (TextDecoder, blank-line split, JSON.parse per event), JSON.parse of the joined reply.`,
      `abort mid-stream: the mock sends an event every ${abort.chunkDelayMs} ms; ${abort.waitMs} ms after the stream's first text the AbortSignal is aborted; times to the stream settling (brake: final rejects with CancelledError; BAML: getFinalResponse rejects; fetch: the pending read rejects) and to the mock's socket 'close' (mock in the sample's process: one clock). ${abort.samples} sequential streams per run after ${abort.warmup} warm-up.`,
      `watch: \`watch let done = 0; for (let i = 0; i < n; i += 1) { done += 1; }\` with n = ${watch.n.toLocaleString('en-US')}, ${watch.repeat} loops per run after one warm-up, their median: streamed with engine.stream (every event read with for await; past 256 undelivered, a variable's events coalesce), called with engine.call (no stream: watches cost nothing), and the same loop on a plain let. No peer: BAML's Node runtime 0.226.2 has no watch.`,
      `tokens/s: ${tokens.concurrency} streams kept going for ${tokens.durationMs} ms after a ${tokens.warmupMs} ms warm-up, each read to its end, the mock in a process of its own (it shares the machine's cores with the client, so tokens/s is bounded by both). Client CPU is process.cpuUsage of the client process (every thread).`,
    );

    return {
      figures,
      headline: (h) =>
        h.row(
          'Streaming: abort mid-stream → settled p99 / tokens/s',
          [['abort mid-stream → settled p99', label.brake], [`streamed tokens/s (${tokens.concurrency} streams)`, label.brake]],
          [
            ['abort mid-stream → settled p99', label.baml],
            [`streamed tokens/s (${tokens.concurrency} streams)`, label.baml],
            ['abort mid-stream → settled p99', label.fetch],
            [`streamed tokens/s (${tokens.concurrency} streams)`, label.fetch],
          ],
        ),
      notes,
    };
  },
};

const q = (xs, p) => quantile(sortNumbers(xs), p);
