// Spawned tasks: spawn + await of a trivial child (children per second, one
// call), memory per live sleeping child (process RSS growth while 10,000
// sleep), and abort of a call with 10,000 sleeping children -> settled.
// Peer: plain Node, async functions under Promise.all, and
// timers/promises' setTimeout with the same AbortSignal.
import { quantile, sortNumbers } from '../lib/stats.mjs';

const pct = (values, p) => quantile(sortNumbers(values), p / 100);
const median = (values) => pct(values, 50);

export default {
  name: 'spawn',
  title: 'Spawned tasks: spawn + await, memory per child, cancel a parent of 10,000',
  async run(ctx) {
    const spec = { kind: 'spawnTasks', children: ctx.quick ? 20000 : 200000, sleepers: 10000, samples: ctx.quick ? 3 : 10, warmup: 1 };
    const variants = { brake: 'brake', node: 'Promise.all (plain Node)' };
    const runs = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }),
      (r) => `${median(r.rates).toFixed(0)} children/s, settled p99 ${pct(r.settledUs, 99).toFixed(0)} µs`);
    const figures = [];
    for (const [v, label] of Object.entries(variants)) {
      figures.push(ctx.figure({ metric: 'spawn + await children/s', variant: label, unit: '/s', better: 'higher', values: runs[v].map((r) => median(r.rates)) }));
      figures.push(ctx.figure({ metric: 'memory per live child', variant: label, unit: 'B', better: 'lower', values: runs[v].map((r) => median(r.bytesPerChild)) }));
      figures.push(ctx.figure({ metric: 'abort parent of 10,000 sleeping → settled p50', variant: label, unit: 'µs', better: 'lower', values: runs[v].map((r) => pct(r.settledUs, 50)) }));
      figures.push(ctx.figure({ metric: 'abort parent of 10,000 sleeping → settled p99', variant: label, unit: 'µs', better: 'lower', values: runs[v].map((r) => pct(r.settledUs, 99)) }));
    }
    return {
      figures,
      headline: (h) =>
        h.row('Spawn: children/s, abort parent of 10,000 → settled p99', [['spawn + await children/s', 'brake'], ['abort parent of 10,000 sleeping → settled p99', 'brake']],
          [['spawn + await children/s', 'Promise.all (plain Node)'], ['abort parent of 10,000 sleeping → settled p99', 'Promise.all (plain Node)']]),
      notes: [
        `children/s: one call spawns ${spec.children} children that return their index, then awaits each (best of 3 timed rounds per run, median). Node: as many async functions under Promise.all.`,
        'memory per live child: growth of the process RSS while 10,000 children sleep, divided by 10,000, in each run\'s first round (a fresh process; later rounds reuse the pages the first freed). The engine runs in the measuring process; Node\'s sleepers are pending timers/promises setTimeouts.',
        `abort → settled: the call (Node: the Promise.all) is aborted while its 10,000 children sleep; ${spec.samples} samples per run after ${spec.warmup} warm-up.`,
      ],
    };
  },
};
