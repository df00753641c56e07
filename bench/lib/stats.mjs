// Order statistics for benchmark samples: medians, percentiles, summaries.

/** The q-quantile (0..1) of an ascending array, by nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function sortNumbers(values) {
  return Float64Array.from(values).sort();
}

export function median(values) {
  const s = sortNumbers(values);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** { median, min, max, runs } of one figure's per-run values. */
export function summarize(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    median: median(finite),
    min: finite.length ? Math.min(...finite) : NaN,
    max: finite.length ? Math.max(...finite) : NaN,
    runs: finite.length,
  };
}

/** Percentile points of a latency sample set, for distribution charts and JSON (small). */
export const DISTRIBUTION_QUANTILES = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

export function distribution(values) {
  const s = sortNumbers(values);
  return DISTRIBUTION_QUANTILES.map((q) => [q, q === 0 ? s[0] : quantile(s, q)]);
}
