// baml.sys.shell: abort a running command (a shell that started a child in
// the background, both sleeping) and time abort -> the call settled and
// abort -> every process of the command gone; count the processes still
// alive 250 ms after the abort. Peer: child_process.spawn with the same
// AbortSignal, which is what Node offers.
import { quantile, sortNumbers } from '../lib/stats.mjs';

const pct = (values, p) => quantile(sortNumbers(values), p / 100);

export default {
  name: 'shell',
  title: 'baml.sys.shell: abort a running command',
  async run(ctx) {
    const spec = { kind: 'shellAbort', samples: ctx.quick ? 10 : 40, warmup: 3 };
    const variants = { brake: 'brake', node: 'child_process.spawn + signal' };
    const runs = await ctx.alternate(Object.keys(variants), (variant) => ctx.jsSample({ ...spec, variant }),
      (r) => `settled p50 ${(pct(r.settledUs, 50)).toFixed(0)} µs, survivors ${r.survivors}`);
    const figures = [];
    for (const [v, label] of Object.entries(variants)) {
      const settled = runs[v].map((r) => pct(r.settledUs, 50));
      const settled99 = runs[v].map((r) => pct(r.settledUs, 99));
      const gone = runs[v].map((r) => (r.goneUs.length === r.samples ? pct(r.goneUs, 99) : NaN));
      const survivors = runs[v].map((r) => r.survivors / r.samples);
      figures.push(ctx.figure({ metric: 'abort → settled p50', variant: label, unit: 'µs', better: 'lower', values: settled }));
      figures.push(ctx.figure({ metric: 'abort → settled p99', variant: label, unit: 'µs', better: 'lower', values: settled99 }));
      if (gone.every(Number.isFinite))
        figures.push(ctx.figure({ metric: 'abort → every process gone p99', variant: label, unit: 'µs', better: 'lower', values: gone }));
      else
        figures.push(ctx.unavailable({ metric: 'abort → every process gone p99', variant: label, reason: 'processes outlived the abort (see survivors)' }));
      figures.push(ctx.figure({ metric: 'processes alive 250 ms after the abort, per command', variant: label, unit: '', better: 'lower', values: survivors }));
    }
    return {
      figures,
      headline: (h) =>
        h.row('Shell: abort → settled p99, processes left per command', [['abort → settled p99', 'brake'], ['processes alive 250 ms after the abort, per command', 'brake']],
          [['abort → settled p99', 'child_process.spawn + signal'], ['processes alive 250 ms after the abort, per command', 'child_process.spawn + signal']]),
      notes: [
        `Each sample runs \`sleep 30 & echo $! >> FILE; echo $$ >> FILE; sleep 30\` (${spec.samples} samples per run after ${spec.warmup} warm-up), waits until both pids are written, aborts, and times the awaiting code's resumption and, polling /proc, the moment neither process is alive (a zombie counts as gone). Whatever is still alive 250 ms later is counted, then killed.`,
        'brake kills the command\'s whole process group with SIGKILL; child_process.spawn\'s signal sends SIGTERM to the shell alone, so its background child lives on.',
      ],
    };
  },
};
