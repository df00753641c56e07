// Mass cancel: N sleeping calls on one AbortSignal, aborted at once.
// Peer: timers/promises setTimeout with that one signal.
export default {
  name: 'mass-cancel',
  title: 'Mass cancel on one signal',
  async run(ctx) {
    const big = ctx.quick ? 20_000 : 100_000;
    const small = ctx.quick ? 2_000 : 10_000;
    const labels = { brake: 'brake', timers: 'timers/promises' };
    const figures = [];
    const metrics = [
      ['settleMs', 'abort → all settled', 'ms'],
      ['maxStallMs', 'longest event-loop stall', 'ms'],
      ['admitMs', 'start all calls', 'ms'],
    ];
    const collect = (values, n, runsNote) => {
      for (const [variant, runs] of Object.entries(values)) {
        for (const [key, metric, unit] of metrics) {
          figures.push(ctx.figure({ metric: `${n.toLocaleString('en-US')} calls: ${metric}`, variant: labels[variant], unit, better: 'lower', values: runs.map((r) => r[key]), note: runsNote }));
        }
      }
    };
    // Both, alternating, at a size the peer can start in reasonable time.
    collect(await ctx.alternate(['brake', 'timers'], (variant) => ctx.jsSample({ kind: 'massCancel', variant, calls: small }), settleLabel), small);
    // brake at full size.
    collect(await ctx.alternate(['brake'], (variant) => ctx.jsSample({ kind: 'massCancel', variant, calls: big }), settleLabel), big);
    // The peer at full size: adding N listeners to one AbortSignal is quadratic in Node (EventTarget
    // scans its listener list on every add), so 100k take minutes to start: one run, full mode only.
    if (!ctx.quick) {
      const peer = await ctx.alternate(['timers'], (variant) => ctx.jsSample({ kind: 'massCancel', variant, calls: big }, { timeoutMs: 900_000 }), settleLabel, 1);
      collect(peer, big, 'one run: starting 100k listeners on one signal takes minutes');
    }
    const chartFigures = figures.filter((f) => !f.metric.includes('start all'));
    // The headline compares both at full size (quick mode runs the peer at the small size only).
    const n = `${(ctx.quick ? small : big).toLocaleString('en-US')} calls`;
    return {
      figures,
      headline: (h) => h.row(`${n} on one signal: abort → all settled / longest stall`, [[`${n}: abort → all settled`, 'brake'], [`${n}: longest event-loop stall`, 'brake']], [[`${n}: abort → all settled`, 'timers/promises'], [`${n}: longest event-loop stall`, 'timers/promises']]),
      charts: [ctx.bars({ file: 'mass-cancel', title: 'Mass cancel on one signal (ms, log scale)', unit: 'ms', log: true, figures: chartFigures, groupBy: 'metric' })],
      notes: [
        'Each run: start N calls that sleep 10 minutes, all with one AbortController\'s signal; wait until brake\'s workers hold them all; set up Promise.all over the N promises (before the abort, as a service\'s awaits are: over 100k promises it costs about 25 ms with its scavenges, which are not the cancel\'s); abort(); time until every promise has rejected with an AbortError. The stall is the longest gap seen by a 1 ms interval timer (and Node\'s monitorEventLoopDelay) from abort() to the last settle.',
        `timers/promises at ${big.toLocaleString('en-US')}: Node's EventTarget checks each new listener against the whole list, so adding N listeners to one signal costs O(N²) (see "start all calls").`,
      ],
    };
  },
};

function settleLabel(r) {
  return `settled in ${r.settleMs.toFixed(1)} ms, stall ${r.maxStallMs.toFixed(1)} ms, start ${r.admitMs.toFixed(0)} ms`;
}
