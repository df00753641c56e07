// Hardening (issue: untrusted scripts): memory limits that hold, builtins
// that stop when cancelled, and the chaos mix's exactly-once settling and
// memory drift. One sample per process (bench/workers/hardening-sample.mjs).
// The peer for the limits is what Node offers for running code it does not
// trust: a worker_thread, with resourceLimits for memory and
// worker.terminate() to stop it.
const PATTERNS = ['doubling', 'array_growth', 'map_growth', 'deep_copies'];

export default {
  name: 'hardening',
  title: 'Hardening: memory limits, builtin cancel latency, chaos',
  async run(ctx) {
    const worker = `${ctx.benchDir}/workers/hardening-sample.mjs`;
    const label = { brake: 'brake', worker: 'worker_threads' };
    const figures = [];
    const sample = async (spec) => {
      try {
        return await ctx.runJson(process.execPath, [worker, JSON.stringify(spec)], { cwd: ctx.root, timeoutMs: 600_000 });
      } catch (error) {
        return { error: error.message.split('\n').filter(Boolean).slice(-2).join(' ').slice(0, 300) };
      }
    };
    const fig = (metric, variant, unit, values, extra = {}) => figures.push(ctx.figure({ metric, variant: label[variant], unit, better: 'lower', values, ...extra }));

    // 1. One hostile script under a 256 MiB limit, per pattern.
    const crashes = {};
    for (const pattern of ctx.quick ? ['map_growth', 'array_growth'] : PATTERNS) {
      const values = await ctx.alternate(
        Object.keys(label),
        (variant) => sample({ kind: 'memory', variant, pattern }),
        (r) => (r.error ? `the process died: ${r.error}` : `peak RSS +${r.growthMiB.toFixed(0)} MiB, failed after ${r.ms.toFixed(0)} ms (${r.failed.slice(0, 60)})`),
        ctx.runs,
        pattern,
      );
      for (const [variant, runs] of Object.entries(values)) {
        const lived = runs.filter((r) => !r.error);
        if (lived.length < runs.length) crashes[`${label[variant]} ${pattern}`] = runs.find((r) => r.error).error;
        fig(`${pattern}: runs the process survived`, variant, `of ${runs.length}`, [lived.length], { better: 'higher' });
        const metric = `${pattern}: peak RSS above baseline (limit 256 MiB)`;
        if (lived.length) fig(metric, variant, 'MiB', lived.map((r) => r.growthMiB));
        else figures.push(ctx.unavailable({ metric, variant: label[variant], reason: 'the process died in every run' }));
      }
    }

    // 2. Ten hostile calls at once under one engine limit (brake only: each
    // worker_thread has a limit of its own, none bounds them together).
    const ten = await ctx.alternate(['brake'], () => sample({ kind: 'memoryTen', variant: 'brake' }), (r) => r.error ?? `peak RSS +${r.growthMiB.toFixed(0)} MiB, ${r.outOfMemory}/10 out_of_memory in ${r.ms.toFixed(0)} ms`, ctx.runs, 'ten at once');
    const tenOk = ten.brake.filter((r) => !r.error);
    fig('ten hostile calls at once: peak RSS above baseline (engine limit 256 MiB)', 'brake', 'MiB', tenOk.map((r) => r.growthMiB), { target: { max: 256 + 64 } });

    // 3. Cancel during each builtin on 100 MB inputs.
    const spec = { kind: 'builtinCancel', trials: ctx.quick ? 1 : 3, delayMs: 5, only: ctx.quick ? ['concat', 'split', 'deep_copy'] : undefined };
    const stops = await ctx.alternate(
      Object.keys(label),
      (variant) => sample({ ...spec, variant }),
      (r) => (r.error ? `FAILED: ${r.error}` : `worst ${Math.max(...Object.values(r.ms)).toFixed(1)} ms (${Object.entries(r.ms).sort((a, b) => b[1] - a[1])[0][0]})`),
      ctx.runs,
      'builtin cancel',
    );
    for (const [variant, runs] of Object.entries(stops)) {
      const ok = runs.filter((r) => !r.error);
      if (ok.length < runs.length) throw new Error(`builtin cancel (${variant}): ${runs.find((r) => r.error).error}`);
      fig('worst cancel → settled over all builtins', variant, 'ms', ok.map((r) => Math.max(...Object.values(r.ms))), variant === 'brake' ? { target: { max: 10 } } : {});
      for (const name of Object.keys(ok[0].ms)) fig(`cancel during ${name} → settled`, variant, 'ms', ok.map((r) => r.ms[name]));
    }

    // 4. The chaos mix.
    const chaos = { kind: 'chaos', variant: 'brake', calls: ctx.quick ? 2_000 : 20_000, warmups: ctx.quick ? 1 : 3 };
    const mixed = await ctx.alternate(['brake'], (_, run) => sample({ ...chaos, seed: 1000 + run }), (r) => r.error ?? `${Math.round(r.callsPerSec)} calls/s, lost ${r.lost}, twice ${r.twice}, problems ${r.problems}, RSS drift ${r.rssDriftPct.toFixed(1)} %`, ctx.runs, 'chaos');
    const m = mixed.brake;
    if (m.some((r) => r.error)) throw new Error(`chaos: ${m.find((r) => r.error).error}`);
    figures.push(ctx.figure({ metric: 'chaos: calls/s sustained', variant: 'brake', unit: 'calls/s', better: 'higher', values: m.map((r) => r.callsPerSec) }));
    fig('chaos: lost settles', 'brake', 'calls', m.map((r) => r.lost), { target: { max: 0 } });
    fig('chaos: double settles', 'brake', 'calls', m.map((r) => r.twice), { target: { max: 0 } });
    fig('chaos: wrong outcomes', 'brake', 'calls', m.map((r) => r.problems), { target: { max: 0 } });
    fig('chaos: live calls, host calls and transfers left', 'brake', '', m.map((r) => r.live), { target: { max: 0 } });
    fig('chaos: resident memory drift', 'brake', '%', m.map((r) => r.rssDriftPct), { target: { max: 10 } });

    const notes = [
      `Memory: a fresh process per sample. brake: engine.call of one function of test/support/hostile.baml (doubling: s = s + s; array_growth: push; map_growth: ever longer keys; deep_copies: baml.deep_copy of a 1,000-string array kept in a list) with callMemoryLimit 256 MiB; worker_threads: the same loop in JavaScript in a worker with resourceLimits.maxOldGenerationSizeMb 256. "peak RSS above baseline" is the process's peak resident memory (process.resourceUsage().maxRSS) minus the same just before the call or worker started; brake's call fails with ScriptError out_of_memory, the worker with ERR_WORKER_OUT_OF_MEMORY when Node catches it.`,
      `Ten at once: ten calls (the five hostile functions twice, split_chars included) on a 2-worker engine with callMemoryLimit 96 MiB and engineMemoryLimit 256 MiB; target: the engine limit plus the 64 MiB overhead the README documents.`,
      `Builtin cancel: each function of test/support/bounded-builtins.baml builds an input of 100 MB or more, calls the host function ready(), then runs one builtin in a loop; ${spec.delayMs} ms after ready() the call is cancelled (engine.cancel) and the time to its promise rejecting is taken (${spec.trials} stops per builtin per run, their median; "worst" is the largest of those over the builtins). worker_threads: the same input and operation in JavaScript (a worker per stop) and worker.terminate() until it resolves; V8 stops a worker only between operations, so a long string operation runs to its end.`,
      `Chaos: test/support/chaos-mix.mjs, ${chaos.calls.toLocaleString('en-US')} calls (sleeps, compute loops, HTTP requests, host functions, LLM calls with a retry policy, LLM streams) with cancels from engine.cancel, signals and deadlines at random moments, 500 in flight, after ${chaos.warmups} warm-up round(s) of the same size; the HTTP server and the mock LLM server in a process of their own. Drift: resident memory after the measured round over that after the warm-up (both after a GC). No peer: there is no second engine running this mix.`,
    ];
    if (Object.keys(crashes).length) notes.push(`Processes that died: ${Object.entries(crashes).map(([k, v]) => `${k}: ${v}`).join('; ')}.`);

    return {
      figures,
      headline: (h) =>
        h.row(
          'Hardening: ten hostile calls peak RSS / worst builtin cancel / chaos calls/s',
          [['ten hostile calls at once: peak RSS above baseline (engine limit 256 MiB)', label.brake], ['worst cancel → settled over all builtins', label.brake], ['chaos: calls/s sustained', label.brake]],
          [['worst cancel → settled over all builtins', label.worker]],
        ),
      charts: [ctx.bars({ file: 'hardening-builtin-cancel', title: 'Cancel during a builtin on 100 MB inputs → settled', unit: 'ms', log: true, figures: figures.filter((f) => f.metric.startsWith('cancel during') && !f.unavailable), groupBy: 'metric' })],
      notes,
    };
  },
};
