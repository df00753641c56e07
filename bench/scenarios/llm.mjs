// LLM functions against the mock LLM server (test/support/mock-llm.mjs):
// throughput with a class output, abort during a retry backoff, abort during
// an attempt in flight. brake (engine.call('Extract', [text])) against BAML's
// own Node runtime (the same function through its generated client) and a
// hand-written OpenAI client over undici.request, one sample per process
// (bench/workers/llm-sample.mjs).
//
// brake's programs are in that worker (the BAML twin: bench/peers/baml/baml_src/llm.baml).
// Until the engine compiles them (LLM functions), brake's figures are
// reported unavailable with the engine's reason and the peers still run.
import { cdfChart, cdfPoints } from '../lib/charts.mjs';
import { quantile, sortNumbers } from '../lib/stats.mjs';
import { variantMeasure } from '../lib/variants.mjs';

export default {
  name: 'llm',
  title: 'LLM functions against the mock LLM server: throughput, CPU, cancellation',
  baml: true,
  async run(ctx) {
    const worker = `${ctx.benchDir}/workers/llm-sample.mjs`;
    const label = {
      brake: 'brake',
      baml: `BAML runtime ${ctx.baml.version ?? ''}`.trim(),
      undici: 'hand-written (undici.request)',
      floor: 'bare abort listener (floor)',
    };
    const figures = [];
    const notes = [];

    // Can brake run the programs? (It cannot until LLM functions land: report why.)
    let probe;
    try {
      probe = await ctx.runJson(process.execPath, [worker, JSON.stringify({ kind: 'probe', variant: 'brake' })], { cwd: ctx.root, timeoutMs: 60_000 });
    } catch (error) {
      probe = { extract: `the probe failed: ${error.message.slice(0, 300)}`, flaky: 'the probe failed' };
    }
    const why = {
      extract: { brake: probe.extract, baml: ctx.baml.available ? 'ok' : ctx.baml.reason, undici: 'ok' },
      flaky: { brake: probe.flaky, baml: ctx.baml.available ? 'ok' : ctx.baml.reason, floor: 'ok' },
    };

    const measureVariants = variantMeasure(ctx, worker, label, figures);
    /** Runs `spec` over the variants available for `need`; pushes figures made by `make(values)` per variant. */
    const measure = (need, variants, spec, what, labelOf, make) => measureVariants(variants, why[need], spec, what, labelOf, make);
    // make(rs) lists a variant's figures from its runs' results (rs undefined: only the metric names are used).
    const per = (rs, fn) => (rs ?? []).map(fn);

    // 1. Throughput: 64 in flight, instant replies, a class output.
    const tp = { kind: 'throughput', inFlight: 64, warmupMs: ctx.quick ? 200 : 500, durationMs: ctx.quick ? 500 : 2000 };
    await measure(
      'extract',
      ['brake', 'baml', 'undici'],
      tp,
      'throughput',
      (r) => `${Math.round(r.callsPerSec).toLocaleString('en-US')} calls/s, ${r.cpuUsPerCall.toFixed(0)} µs CPU/call, ELU ${r.elu.toFixed(2)}`,
      (rs) => [
        { metric: 'calls/s (64 in flight)', unit: 'calls/s', better: 'higher', values: per(rs, (r) => r.callsPerSec) },
        { metric: 'client CPU per call', unit: 'µs', better: 'lower', values: per(rs, (r) => r.cpuUsPerCall) },
        { metric: 'main-thread event-loop utilisation', unit: '', better: 'lower', values: per(rs, (r) => r.elu) },
      ],
    );

    // 2. Abort during a retry backoff -> settled; no attempt after the abort.
    const backoff = { kind: 'abortBackoff', samples: ctx.quick ? 30 : 200, warmup: 10, waitMs: 50, graceMs: 2500 };
    const distributions = {};
    const backoffValues = await measure(
      'flaky',
      ['brake', 'baml', 'floor'],
      backoff,
      'abort in backoff',
      (r) => `settle p50 ${q(r.settleUs, 0.5).toFixed(0)} µs, p99 ${q(r.settleUs, 0.99).toFixed(0)} µs, ${r.requestsAfterAbort} requests after the aborts`,
      (rs) => [
        { metric: 'abort in a retry backoff → settled p50', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.settleUs, 0.5)) },
        { metric: 'abort in a retry backoff → settled p99', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.settleUs, 0.99)) },
        { metric: 'requests the mock received after the aborts (backoff)', unit: 'requests', better: 'lower', target: { max: 0 }, values: per(rs, (r) => r.requestsAfterAbort) },
      ],
    );
    for (const [v, rs] of Object.entries(backoffValues)) if (!rs.some((r) => r.error)) distributions[label[v]] = cdfPoints(rs.flatMap((r) => r.settleUs));

    // 3. Abort during an attempt in flight -> settled, and -> the mock sees the connection close.
    const inflight = { kind: 'abortInFlight', samples: ctx.quick ? 30 : 200, warmup: 10, waitMs: 2, graceMs: 200 };
    await measure(
      'extract',
      ['brake', 'baml', 'undici'],
      inflight,
      'abort in flight',
      (r) => `settle p50 ${q(r.settleUs, 0.5).toFixed(0)} µs, close p50 ${q(r.closeUs, 0.5).toFixed(0)} µs, p99 ${q(r.closeUs, 0.99).toFixed(0)} µs`,
      (rs) => [
        { metric: 'abort in flight → settled p50', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.settleUs, 0.5)) },
        { metric: 'abort in flight → settled p99', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.settleUs, 0.99)) },
        { metric: 'abort in flight → mock sees the connection close p50', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.closeUs, 0.5)) },
        { metric: 'abort in flight → mock sees the connection close p99', unit: 'µs', better: 'lower', values: per(rs, (r) => q(r.closeUs, 0.99)) },
        { metric: 'requests the mock received after the aborts (in flight)', unit: 'requests', better: 'lower', target: { max: 0 }, values: per(rs, (r) => r.requestsAfterAbort) },
      ],
    );

    if (why.extract.brake !== 'ok' || why.flaky.brake !== 'ok') notes.push(`brake unavailable: ${why.extract.brake === 'ok' ? why.flaky.brake : why.extract.brake}.`);
    notes.push(
      `The mock: test/support/mock-llm.mjs (Node's http module), every reply's message content ${JSON.stringify('{"name":"Ada Lovelace","age":36}')}. brake: \`function Extract(text: string) -> Person\` (class Person { name string age int }) with an openai-generic client whose base_url is env.MOCK_BASE_URL (Engine.fromSource(src, { env })), called as engine.call('Extract', [text]); the engine renders the prompt with ctx.output_format, POSTs, parses the reply into a Person. BAML: the same function (bench/peers/baml/baml_src/llm.baml) as b.Extract(text) through the generated client, BAML_LOG=error. Hand-written: undici.request with a keep-alive Agent POSTing the same OpenAI chat body BAML sends (one system message with the rendered prompt), JSON.parse of the body and of the message content, a check that name is a string and age an integer.`,
      `throughput: ${tp.inFlight} calls in flight for ${tp.durationMs} ms after a ${tp.warmupMs} ms warm-up, the mock in a process of its own. Client CPU per call is process.cpuUsage of the client process (every thread: brake's and BAML's workers included) over the window; the mock's CPU is not in it, but the client and the mock share the machine's cores, so calls/s is bounded by both.`,
      `abort in a retry backoff: a client with retry_policy Slow (max_retries 3, constant_delay 2000 ms); the mock answers each call's first attempt 500; ${backoff.waitMs} ms after that answer (the client is waiting out its backoff) the call's AbortSignal is aborted (brake: engine.call(..., { signal }), CancelledError; BAML: the generated client's { signal } option, BamlAbortError). ${backoff.samples} sequential calls per run after ${backoff.warmup} warm-up; the mock's requests are counted ${backoff.graceMs} ms after the last abort (longer than the backoff): any attempt beyond the first of each call arrived after its abort. The floor, in the same run: the same first request, then a promise whose only work on abort is one listener rejecting it (Node's own abort after the same idle wait; nothing that stops real work settles faster).`,
      `abort in flight: the mock never answers the call's request (a queued \`hang\` behaviour); ${inflight.waitMs} ms after it arrived the call is aborted; times to the promise settling and to the mock's socket 'close' (the mock runs in the sample's process for the abort samples: one clock). ${inflight.samples} sequential calls per run after ${inflight.warmup} warm-up.`,
    );

    const series = Object.entries(distributions).map(([lbl, points]) => ({ label: lbl, points }));
    const charts = [ctx.bars({ file: 'llm', title: 'LLM calls: client CPU per call, 64 in flight (µs)', unit: 'µs', figures: figures.filter((f) => f.metric === 'client CPU per call' && !f.unavailable) })];
    if (series.length) charts.push({ file: 'llm-abort-backoff.svg', title: 'Abort in a retry backoff → settled (µs)', svg: cdfChart({ title: 'Abort in a retry backoff → settled (µs)', unit: 'µs', series }) });

    return {
      figures,
      distributions,
      headline: (h) =>
        h.row(
          'LLM calls (class output), 64 in flight: calls/s / client CPU per call',
          [['calls/s (64 in flight)', label.brake], ['client CPU per call', label.brake]],
          [
            ['calls/s (64 in flight)', label.baml],
            ['client CPU per call', label.baml],
            ['calls/s (64 in flight)', label.undici],
            ['client CPU per call', label.undici],
          ],
        ),
      charts,
      notes,
    };
  },
};

const q = (xs, p) => quantile(sortNumbers(xs), p);
