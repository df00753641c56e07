// Native cancel latency: brake_cancel on the bench thread -> completion
// callback on the worker (bench/native/cancel_latency.c), no JavaScript.
export default {
  name: 'native-cancel',
  title: 'Native brake_cancel → callback latency',
  native: true,
  async run(ctx) {
    const samples = ctx.quick ? 100 : 1000;
    const bin = ctx.nativeBin('cancel_latency');
    const variants = { sleep: 'sleeping call', compute: 'compute loop' };
    const values = await ctx.alternate(
      Object.keys(variants),
      (mode) => ctx.runJson(bin, [`${ctx.benchDir}/programs/calls.baml`, mode, String(samples), '3000']),
      ctx.latencyLabel,
    );
    return ctx.latencyResult({
      values,
      variants,
      file: 'native-cancel',
      headline: (h) => h.row('Native brake_cancel → callback p99 (sleeping / compute)', [['p99', 'sleeping call'], ['p99', 'compute loop']], [], 'targets 200 µs / 1 ms'),
      title: `brake_cancel → completion callback (${samples} samples × runs)`,
      targets: { sleep: { p99: 200 }, compute: { p99: 1000 } },
      notes: [
        `Each sample: brake_call_start (sleep_ms(600000) or a while (true) loop) on a two-worker engine, wait 3 ms, t0, brake_cancel from the bench thread; the completion callback takes t1 on the worker. Targets: p99 ≤ 200 µs sleeping, ≤ 1 ms compute.`,
      ],
    });
  },
};
