// Abort -> settle latency of a sleeping call, from JavaScript.
// Peer: timers/promises setTimeout with the same AbortSignal pattern.
export default {
  name: 'abort-sleep',
  title: 'Abort → settle latency, sleeping call',
  async run(ctx) {
    const spec = { kind: 'abortLatency', samples: ctx.quick ? 100 : 500, warmup: 20, waitMs: 2 };
    const variants = { brake: 'brake', timers: 'timers/promises' };
    const values = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }), ctx.latencyLabel);
    return ctx.latencyResult({
      values,
      variants,
      file: 'abort-sleep',
      headline: (h) => h.row('Abort → settle, sleeping call (p50 / p99)', [['p50', 'brake'], ['p99', 'brake']], [['p50', 'timers/promises'], ['p99', 'timers/promises']]),
      title: `Abort → settle, sleeping call (${spec.samples} samples × runs)`,
      notes: [
        `Each sample: start a 10-minute sleep with its own AbortController, wait ${spec.waitMs} ms, then time controller.abort() until the awaiting code resumes with the AbortError. p50/p99 are per run; the table gives their median, min and max over runs.`,
      ],
    });
  },
};
