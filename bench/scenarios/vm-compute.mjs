// VM compute against python3 (and lua5.4 when installed) on the same programs:
// bench/programs/compute.{baml,py,lua}. Timed in-process around the call alone.
import { which, versionOf } from '../lib/proc.mjs';

export default {
  name: 'vm-compute',
  title: 'VM compute vs python3 / lua5.4',
  native: true,
  async run(ctx) {
    const workloads = ctx.quick
      ? [['fib', 25], ['loop', 1_000_000], ['nested', 1000], ['closures', 100_000]]
      : [['fib', 30], ['loop', 10_000_000], ['nested', 3000], ['closures', 1_000_000]];
    const vmBench = ctx.nativeBin('vm_bench');
    const python = which('python3');
    const lua = which('lua5.4');
    const langs = {
      brake: { label: 'brake VM', cmd: (fn, n) => [vmBench, [`${ctx.benchDir}/programs/compute.baml`, fn, String(n), '1']] },
    };
    if (python) langs.python3 = { label: versionOf(python).replace('Python', 'python'), cmd: (fn, n) => [python, [`${ctx.benchDir}/programs/compute.py`, fn, String(n), '1']] };
    if (lua) langs.lua = { label: versionOf(lua, ['-v']).split(' ').slice(0, 2).join(' '), cmd: (fn, n) => [lua, [`${ctx.benchDir}/programs/compute.lua`, fn, String(n), '1']] };
    const figures = [];
    const results = {};
    for (const [fn, n] of workloads) {
      const name = `${fn}(${n.toLocaleString('en-US')})`;
      const values = await ctx.alternate(
        Object.keys(langs),
        async (lang) => {
          const [cmd, args] = langs[lang].cmd(fn, n);
          const r = await ctx.runJson(cmd, args);
          results[name] ??= r.result;
          if (r.result !== results[name]) throw new Error(`${lang} ${name} returned ${r.result}, expected ${results[name]}`);
          return r.ms[0];
        },
        (ms) => `${ms.toFixed(1)} ms`,
        undefined,
        name,
      );
      for (const lang of Object.keys(langs)) {
        figures.push(ctx.figure({ metric: name, variant: langs[lang].label, unit: 'ms', better: 'lower', values: values[lang] }));
      }
    }
    if (!python) figures.push(ctx.unavailable({ metric: 'all', variant: 'python3', reason: 'python3 not found on PATH' }));
    if (!lua) figures.push(ctx.unavailable({ metric: 'all', variant: 'lua5.4', reason: 'lua5.4 not installed (apt-get install lua5.4)' }));
    const names = workloads.map(([fn, n]) => `${fn}(${n.toLocaleString('en-US')})`);
    const peerLabels = Object.keys(langs).filter((l) => l !== 'brake').map((l) => langs[l].label);
    return {
      figures,
      headline: (h) => h.row(`VM compute ms: ${names.join(' / ')}`, names.map((m) => [m, 'brake VM']), peerLabels.flatMap((p) => names.map((m) => [m, p]))),
      charts: [ctx.bars({ file: 'vm-compute', title: 'Compute workloads (ms, lower is better)', unit: 'ms', figures: figures.filter((f) => !f.unavailable), groupBy: 'metric' })],
      notes: [
        'Each run is a fresh process per language that runs the workload once and times the call alone in-process (brake: bench/native/vm_bench, brake_call_start to completion callback on a one-worker engine; Python: time.perf_counter around the call; Lua: os.clock). Compilation and start-up are excluded for all.',
        'Same algorithms: naive recursive fib; a counting loop summing i; two nested counting loops summing i + j; closures: an array of 0..n-1, then map, filter and reduce, each calling a lambda (map\'s captures a variable of the caller) once per element. Python and Lua use their idiomatic counting loops (for i in range(n), for i = 0, n - 1); Python its map, filter and functools.reduce with lambdas; Lua, which has none, three small loops calling a closure.',
      ],
    };
  },
};
