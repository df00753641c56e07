// Memory per in-flight call: N sleeping calls, RSS and JS heap growth per call.
export default {
  name: 'memory',
  title: 'Memory per in-flight call',
  async run(ctx) {
    const calls = ctx.quick ? 10_000 : 100_000;
    const labels = { brake: 'brake', timers: 'timers/promises' };
    const values = await ctx.alternate(
      Object.keys(labels),
      (variant) => ctx.jsSample({ kind: 'memory', variant, calls }, { exposeGc: true }),
      (r) => `${Math.round(r.rssBytesPerCall)} B RSS, ${Math.round(r.heapBytesPerCall)} B heap per call`,
    );
    const figures = [];
    for (const [variant, runs] of Object.entries(values)) {
      figures.push(ctx.figure({ metric: 'RSS per call', variant: labels[variant], unit: 'bytes', better: 'lower', values: runs.map((r) => r.rssBytesPerCall) }));
      figures.push(ctx.figure({ metric: 'JS heap per call', variant: labels[variant], unit: 'bytes', better: 'lower', values: runs.map((r) => r.heapBytesPerCall) }));
    }
    return {
      figures,
      headline: (h) => h.row('Memory per in-flight sleeping call (RSS / JS heap)', [['RSS per call', 'brake'], ['JS heap per call', 'brake']], [['RSS per call', 'timers/promises'], ['JS heap per call', 'timers/promises']]),
      charts: [ctx.bars({ file: 'memory', title: `Bytes per in-flight sleeping call (${calls.toLocaleString('en-US')} calls)`, unit: 'bytes', figures, groupBy: 'metric' })],
      notes: [`Each run: a fresh process (--expose-gc) measures process.memoryUsage() after GC, starts ${calls.toLocaleString('en-US')} calls that sleep 10 minutes (brake: engine.call('sleep_ms'), peer: timers/promises setTimeout; no signals, so only the call itself is counted), waits until all are held, GCs again and divides the growth by N. RSS includes brake's native call state; JS heap is only the JavaScript side.`],
    };
  },
};
