// Abort -> settle latency of a call stuck in `while (true) {}`. No peer:
// neither a JS async function nor BAML's runtime can stop a running loop.
export default {
  name: 'abort-compute',
  title: 'Abort → settle latency, compute loop',
  async run(ctx) {
    const spec = { kind: 'abortLatency', samples: ctx.quick ? 100 : 500, warmup: 20, waitMs: 2 };
    const variants = { 'brake-compute': 'brake' };
    const values = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }), ctx.latencyLabel);
    return ctx.latencyResult({
      values,
      variants,
      file: 'abort-compute',
      headline: (h) => h.row('Abort → settle, `while (true) {}` (p50 / p99)', [['p50', 'brake'], ['p99', 'brake']], [], 'no peer can stop a running loop'),
      title: `Abort → settle, compute loop (${spec.samples} samples × runs)`,
      notes: ['No peer can do this: a JavaScript loop blocks the thread that would abort it, and BAML has no cancellation of a running expression function. brake alone.'],
    });
  },
};
