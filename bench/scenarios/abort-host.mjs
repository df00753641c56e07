// Cancel -> the host function's AbortSignal fires, for a call waiting on a
// host function (target p99 <= 200 µs). Two ways in: engine.cancel(id), and
// the call's own AbortSignal (which adds Node's abort(): building its
// DOMException and dispatching to brake's listener, the 'bare listener'
// floor of abort-sleep). The time runs to the host's own abort listener.
export default {
  name: 'abort-host',
  title: 'Cancel → host signal fires, call waiting on a host function',
  async run(ctx) {
    const spec = { kind: 'hostAbortLatency', samples: ctx.quick ? 100 : 500, warmup: 20, waitMs: 2, hangingHost: true };
    const variants = { 'brake-cancel': 'engine.cancel(id)', brake: 'AbortSignal abort()' };
    const values = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }), ctx.latencyLabel);
    return ctx.latencyResult({
      values,
      variants,
      targets: { 'brake-cancel': { p99: 200 } },
      file: 'abort-host',
      headline: (h) =>
        h.row(
          'Cancel → host signal fires, call waiting on a host function (p50 / p99)',
          [['p50', 'engine.cancel(id)'], ['p99', 'engine.cancel(id)']],
          [['p50', 'AbortSignal abort()'], ['p99', 'AbortSignal abort()']],
        ),
      title: `Cancel → host signal fires (${spec.samples} samples × runs)`,
      notes: [
        `Each sample: a call whose script calls a host function that never answers; once the host has it, wait ${spec.waitMs} ms, then time engine.cancel(id) (or controller.abort() of the call's signal) until the host function's abort listener (on the signal its context gave it) runs.`,
        "With a signal, Node's own abort() runs before any listener: profiled here at about 70 µs p50 and 160-170 µs p99 cold, of about 105 µs p50 in all (brake's cancel and delivery about 20 µs, the host signal's own abort dispatch about 17 µs).",
      ],
    });
  },
};
