// Host round trips per second: 1,000 calls in flight, each making one call
// of a host function (script -> JavaScript -> script), beside the trivial
// call rate measured in the same run (target: round trips >= 50 % of it).
// Peer: a plain async function awaiting another (the floor of a round trip).
export default {
  name: 'host-throughput',
  title: 'Host-function round trips (1,000 in flight)',
  async run(ctx) {
    const spec = { kind: 'throughput', inFlight: 1000, warmupMs: ctx.quick ? 100 : 300, durationMs: ctx.quick ? 300 : 1500 };
    const variants = {
      brake: { variant: 'brake' },
      'brake-host': { variant: 'brake-host' },
      'brake-host-async': { variant: 'brake-host', asyncHost: true },
      'async-fn-host': { variant: 'async-fn-host' },
    };
    const values = await ctx.alternate(
      Object.keys(variants),
      (key) => ctx.jsSample({ ...spec, ...variants[key] }),
      (r) => `${Math.round(r.callsPerSec).toLocaleString('en-US')} calls/s`,
    );
    const label = {
      brake: 'brake, trivial call',
      'brake-host': 'brake, one host call (plain value)',
      'brake-host-async': 'brake, one host call (async function)',
      'async-fn-host': 'async function awaiting another',
    };
    const trivial = values.brake.map((r) => r.callsPerSec);
    const figures = Object.keys(variants).map((key) =>
      ctx.figure({ metric: 'calls/s', variant: label[key], unit: 'calls/s', better: 'higher', values: values[key].map((r) => r.callsPerSec) }),
    );
    // The ratio run by run (same process order), so the machine's noise cancels.
    const ratio = (key) => values[key].map((r, i) => (100 * r.callsPerSec) / trivial[i]);
    figures.push(
      ctx.figure({ metric: 'share of trivial', variant: label['brake-host'], unit: '%', better: 'higher', values: ratio('brake-host'), target: { min: 50 } }),
      ctx.figure({ metric: 'share of trivial', variant: label['brake-host-async'], unit: '%', better: 'higher', values: ratio('brake-host-async') }),
    );
    return {
      figures,
      headline: (h) =>
        h.row('Host round trips/s, 1,000 in flight (plain / async host fn; % of trivial)', [['calls/s', label['brake-host']], ['calls/s', label['brake-host-async']], ['share of trivial', label['brake-host']]], [['calls/s', label['async-fn-host']]]),
      charts: [ctx.bars({ file: 'host-throughput', title: 'Calls per second, 1,000 in flight (log scale)', unit: 'calls/s', log: true, figures: figures.filter((f) => f.metric === 'calls/s') })],
      notes: [
        'Each run is a fresh Node process that keeps 1,000 calls pending for a fixed time (after a warm-up) and counts completions.',
        'brake, one host call: engine.call("via_host", [i]), whose script calls the host function echo(x), answered by fn(([x]) => x) (or an async fn). Each call crosses to JavaScript and back twice: the host call and the completion.',
      ],
    };
  },
};
