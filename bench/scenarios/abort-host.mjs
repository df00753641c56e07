// Abort -> the host function's AbortSignal fires, for a call waiting on a
// host function (target p99 <= 200 µs). No peer: the time is from the
// caller's abort() to the host's own abort listener.
export default {
  name: 'abort-host',
  title: 'Abort → host signal fires, call waiting on a host function',
  async run(ctx) {
    const spec = { kind: 'hostAbortLatency', samples: ctx.quick ? 100 : 500, warmup: 20, waitMs: 2, hangingHost: true };
    const values = await ctx.alternate(['brake'], (variant) => ctx.jsSample({ ...spec, variant }), ctx.latencyLabel);
    return ctx.latencyResult({
      values,
      variants: { brake: 'brake' },
      targets: { brake: { p99: 200 } },
      file: 'abort-host',
      headline: (h) => h.row('Abort → host signal fires, call waiting on a host function (p50 / p99)', [['p50', 'brake'], ['p99', 'brake']], []),
      title: `Abort → host signal fires (${spec.samples} samples × runs)`,
      notes: [
        `Each sample: a call whose script calls a host function that never answers; once the host has it, wait ${spec.waitMs} ms, then time controller.abort() until the host function's abort listener (on the signal its context gave it) runs.`,
      ],
    });
  },
};
