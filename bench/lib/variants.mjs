// Scenarios whose samples run one variant per process (llm, stream): one
// sample through a worker script, and a figure set per variant from each
// variant's runs, a variant that cannot run (or whose sample failed)
// reported unavailable with its reason.

/**
 * Returns measure(variants, why, spec, what, labelOf, make): runs `spec` for
 * every variant whose why[variant] is 'ok' (ctx.runs alternating runs of
 * `worker`), pushes the figures make(results of a variant's runs) lists
 * into `figures` (grouped by metric, in `variants` order; make(undefined)
 * must list the metrics), and resolves to the results by variant. labelOf
 * words a run's result for the progress line.
 */
export function variantMeasure(ctx, worker, label, figures) {
  const sample = async (spec) => {
    try {
      return await ctx.runJson(process.execPath, [worker, JSON.stringify(spec)], {
        cwd: ctx.root,
        // Cancelled calls are expected here: BAML logs each one at WARN on stdout otherwise.
        env: spec.variant === 'baml' ? { BAML_LOG: 'error' } : {},
        timeoutMs: 300_000,
      });
    } catch (error) {
      return { error: error.message.split('\n').slice(-3).join(' ').slice(0, 400) };
    }
  };
  return async (variants, why, spec, what, labelOf, make) => {
    const ok = variants.filter((v) => why[v] === 'ok');
    const values = ok.length ? await ctx.alternate(ok, (variant) => sample({ ...spec, variant }), (r) => (r.error ? `FAILED: ${r.error}` : labelOf(r)), ctx.runs, what) : {};
    const metrics = make(undefined).map((f) => f.metric);
    const made = variants.flatMap((v) => {
      const failed = values[v]?.find((r) => r.error);
      const reason = !values[v] ? why[v] : failed ? `a sample failed: ${failed.error}` : undefined;
      return make(reason ? undefined : values[v]).map((f) => {
        // A figure with nothing to divide by (say no call finished in a run's window) is reported as such.
        const missing = reason ?? (f.values.some((x) => !Number.isFinite(x)) ? "nothing finished within a run's measurement window" : undefined);
        return missing ? ctx.unavailable({ metric: f.metric, variant: label[v], reason: missing }) : ctx.figure({ ...f, variant: label[v] });
      });
    });
    figures.push(...made.sort((a, b) => metrics.indexOf(a.metric) - metrics.indexOf(b.metric)));
    return values;
  };
}
