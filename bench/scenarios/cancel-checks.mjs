// Cost of the VM's cancel checks: callgrind instruction counts (Ir) of the same
// workloads with the checks compiled in (build/native) and out (build/nochecks).
import { which, versionOf } from '../lib/proc.mjs';

export default {
  name: 'cancel-checks',
  title: 'Cancel-check overhead in the VM (callgrind Ir)',
  native: true,
  nochecks: true,
  async run(ctx) {
    const valgrind = which('valgrind');
    if (!valgrind) {
      return { figures: [ctx.unavailable({ metric: 'Ir', variant: 'brake', reason: 'valgrind is not installed (apt-get install valgrind): instruction counts skipped' })], charts: [], notes: [] };
    }
    const workloads = ctx.quick ? [['fib', 20], ['loop', 200_000]] : [['fib', 25], ['loop', 2_000_000]];
    const builds = { checks: ctx.nativeBin('vm_bench'), nochecks: ctx.nativeBin('vm_bench', 'nochecks') };
    const program = `${ctx.benchDir}/programs/compute.baml`;
    const ir = async (bin, fn, n, runs) => {
      const out = `${ctx.tmpDir}/callgrind.${process.pid}.out`;
      const r = await ctx.run(valgrind, ['--tool=callgrind', `--callgrind-out-file=${out}`, bin, program, fn, String(n), String(runs)]);
      const m = /Collected : (\d+)/.exec(r.stderr);
      if (r.code !== 0 || !m) throw new Error(`callgrind failed (${r.code}): ${r.stderr.slice(-400)}`);
      return Number(m[1]);
    };
    const figures = [];
    for (const [fn, n] of workloads) {
      const name = `${fn}(${n.toLocaleString('en-US')})`;
      // One run = the workload and the baseline (compile + engine, no call) in each build.
      const values = await ctx.alternate(
        Object.keys(builds),
        async (build) => {
          const total = await ir(builds[build], fn, n, 1);
          const base = await ir(builds[build], fn, n, 0);
          return { total, net: total - base };
        },
        (r) => `${(r.total / 1e6).toFixed(2)} M Ir (net ${(r.net / 1e6).toFixed(2)} M)`,
        undefined,
        name,
      );
      for (const build of Object.keys(builds)) {
        const label = build === 'checks' ? 'checks in' : 'checks out';
        figures.push(ctx.figure({ metric: `${name} total Ir`, variant: label, unit: 'Ir', better: 'lower', values: values[build].map((r) => r.total) }));
        figures.push(ctx.figure({ metric: `${name} net Ir`, variant: label, unit: 'Ir', better: 'lower', values: values[build].map((r) => r.net) }));
      }
      for (const kind of ['total', 'net']) {
        const ratios = values.checks.map((r, i) => (r[kind] / values.nochecks[i][kind] - 1) * 100);
        figures.push(ctx.figure({ metric: `${name} ${kind} Ir overhead`, variant: 'checks in vs out', unit: '%', better: 'lower', values: ratios, target: { max: 1 } }));
      }
    }
    const names = workloads.map(([fn, n]) => `${fn}(${n.toLocaleString('en-US')})`);
    return {
      figures,
      headline: (h) => h.row(`Cancel checks, extra instructions: ${names.join(' / ')}`, names.map((m) => [`${m} net Ir overhead`, 'checks in vs out']), [], 'callgrind, checks compiled in vs out; target ≤ 1 %'),
      charts: [],
      notes: [
        `${versionOf(valgrind)} --tool=callgrind on bench/native/vm_bench (one-worker engine), built with BRAKE_VM_CANCEL_CHECKS ON (build/native) and OFF (build/nochecks). "total" is the whole process; "net" subtracts a run of the same binary that compiles the program and starts the engine but calls nothing. Target: ≤ 1 % more with the checks in.`,
      ],
    };
  },
};
