// Abort -> settle latency of a sleeping call, from JavaScript.
// Peers: timers/promises setTimeout with the same AbortSignal pattern, and
// the floor: a bare abort listener that only rejects with the signal's reason.
export default {
  name: 'abort-sleep',
  title: 'Abort → settle latency, sleeping call',
  async run(ctx) {
    const spec = { kind: 'abortLatency', samples: ctx.quick ? 100 : 500, warmup: 20, waitMs: 2 };
    const variants = { brake: 'brake', timers: 'timers/promises', listener: 'bare listener (floor)' };
    const values = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }), ctx.latencyLabel);
    return ctx.latencyResult({
      values,
      variants,
      file: 'abort-sleep',
      headline: (h) => h.row('Abort → settle, sleeping call (p50 / p99)', [['p50', 'brake'], ['p99', 'brake']], [['p50', 'timers/promises'], ['p99', 'timers/promises'], ['p50', 'bare listener (floor)'], ['p99', 'bare listener (floor)']]),
      title: `Abort → settle, sleeping call (${spec.samples} samples × runs)`,
      notes: [
        `Each sample: start a 10-minute sleep with its own AbortController, wait ${spec.waitMs} ms, then time controller.abort() until the awaiting code resumes with the AbortError. p50/p99 are per run; the table gives their median, min and max over runs.`,
        'bare listener (floor): no operation at all, only one abort listener that rejects a pending promise with signal.reason. What it measures is Node itself (abort() building its DOMException, the event dispatch, the rejection and the resumption); nothing that cancels real work can be faster.',
      ],
    });
  },
};
