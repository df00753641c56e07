// Native start-to-completion throughput of trivial calls from one host thread
// (bench/native/call_throughput.c): callbacks on workers vs notify + drain.
export default {
  name: 'native-throughput',
  title: 'Native trivial-call throughput (one host thread)',
  native: true,
  async run(ctx) {
    const calls = ctx.quick ? 50_000 : 500_000;
    const bin = ctx.nativeBin('call_throughput');
    const variants = { worker: 'callbacks on workers', drain: 'notify + drain on host' };
    const values = await ctx.alternate(
      Object.keys(variants),
      (mode) => ctx.runJson(bin, [`${ctx.benchDir}/programs/calls.baml`, mode, String(calls), '1000', '2']),
      (r) => `${Math.round(r.calls_per_s).toLocaleString('en-US')} calls/s`,
    );
    const figures = Object.entries(variants).map(([mode, label]) =>
      ctx.figure({ metric: 'calls/s', variant: label, unit: 'calls/s', better: 'higher', values: values[mode].map((r) => r.calls_per_s) }),
    );
    return {
      figures,
      headline: (h) => h.row('Native calls/s from one thread (callbacks on workers / notify + drain)', [['calls/s', variants.worker], ['calls/s', variants.drain]], []),
      charts: [],
      notes: [`Each run: a fresh process starts ${calls.toLocaleString('en-US')} calls of add(1, 2) from one thread with at most 1,000 in flight on a two-worker engine, timed from the first start to the last completion.`],
    };
  },
};
