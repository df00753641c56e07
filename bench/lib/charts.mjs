// Small hand-written SVG charts (no dependencies): bars with min–max whiskers,
// and latency distributions as cumulative curves on a log-scale axis.

const W = 760;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const COLORS = ['#d9480f', '#1971c2', '#2f9e44', '#9c36b5', '#e8590c', '#0c8599'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Compact number text: 1.2M, 340k, 12.5, 0.031. */
export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return `${Math.round(v)}`;
  return `${+v.toPrecision(3)}`;
}

function scale(lo, hi, log, px0, px1) {
  if (log) {
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    return (v) => px0 + ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0)) * (px1 - px0);
  }
  return (v) => px0 + ((v - lo) / (hi - lo)) * (px1 - px0);
}

function ticks(lo, hi, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out.filter((t) => t >= lo * 0.999 && t <= hi * 1.001);
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  const out = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-9; t += nice) out.push(t);
  return out;
}

/**
 * Horizontal bars, one per figure, grouped (e.g. by metric); whiskers span
 * min..max, the bar ends at the median.
 */
export function barChart({ title, unit, log = false, groups }) {
  const rowH = 22;
  const groupGap = 14;
  const left = 250;
  const right = W - 90;
  const top = 48;
  const rows = groups.reduce((n, g) => n + g.bars.length, 0);
  const H = top + rows * rowH + groups.length * (groupGap + (groups.length > 1 ? 18 : 0)) + 40;
  const all = groups.flatMap((g) => g.bars.flatMap((b) => [b.max, b.min, b.median])).filter((v) => Number.isFinite(v) && (!log || v > 0));
  let hi = Math.max(...all);
  let lo = log ? 10 ** Math.floor(Math.log10(Math.min(...all))) : 0;
  if (log) hi = 10 ** Math.ceil(Math.log10(hi));
  else hi *= 1.08;
  const x = scale(lo, hi, log, left, right);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`];
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`);
  const axisY = H - 30;
  for (const t of ticks(lo, hi, log)) {
    out.push(`<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${axisY}" stroke="#e9ecef"/>`);
    out.push(`<text x="${x(t)}" y="${axisY + 14}" text-anchor="middle" fill="#495057">${fmt(t)}</text>`);
  }
  out.push(`<text x="${right}" y="${axisY + 27}" text-anchor="end" fill="#495057">${esc(unit)}</text>`);
  let y = top;
  groups.forEach((g) => {
    if (groups.length > 1) {
      out.push(`<text x="8" y="${y + 10}" font-weight="600">${esc(g.label)}</text>`);
      y += 18;
    }
    g.bars.forEach((b, i) => {
      const color = COLORS[b.colorIndex ?? i % COLORS.length];
      const cy = y + rowH / 2;
      out.push(`<text x="${left - 8}" y="${cy + 4}" text-anchor="end">${esc(b.label)}</text>`);
      if (Number.isFinite(b.median)) {
        out.push(`<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(b.median) - left)}" height="${rowH - 6}" fill="${color}" opacity="0.85"/>`);
        out.push(`<line x1="${x(b.min)}" y1="${cy}" x2="${x(b.max)}" y2="${cy}" stroke="#212529"/>`);
        out.push(`<line x1="${x(b.min)}" y1="${cy - 5}" x2="${x(b.min)}" y2="${cy + 5}" stroke="#212529"/>`);
        out.push(`<line x1="${x(b.max)}" y1="${cy - 5}" x2="${x(b.max)}" y2="${cy + 5}" stroke="#212529"/>`);
        out.push(`<text x="${Math.max(x(b.max), x(b.median)) + 6}" y="${cy + 4}">${fmt(b.median)}</text>`);
      } else {
        out.push(`<text x="${left + 6}" y="${cy + 4}" fill="#868e96">unavailable</text>`);
      }
      y += rowH;
    });
    y += groupGap;
  });
  out.push(`<text x="8" y="${H - 6}" fill="#868e96" font-size="11">bar: median of runs; whisker: min–max</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Latency distributions as percentile curves (HdrHistogram style): x is the
 * percentile on a "nines" scale (50, 90, 99, 99.9 equally spaced, so the tail
 * is visible), y the latency on a log scale. Points are [latency, quantile].
 */
export function cdfChart({ title, unit, series }) {
  const H = 380;
  const left = 70;
  const right = W - 30;
  const top = 48;
  const bottom = H - 70;
  const values = series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const nines = (q) => Math.min(3.3, q >= 1 ? 3.3 : -Math.log10(1 - q));
  const x = (q) => left + (nines(q) / 3.3) * (right - left);
  const y = scale(lo, hi, true, bottom, top);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`];
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`);
  for (const t of ticks(lo, hi, true)) {
    out.push(`<line x1="${left}" y1="${y(t)}" x2="${right}" y2="${y(t)}" stroke="#e9ecef"/>`);
    out.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#495057">${fmt(t)}</text>`);
  }
  for (const [q, label] of [[0, 'p0'], [0.5, 'p50'], [0.9, 'p90'], [0.99, 'p99'], [0.999, 'p99.9'], [1, 'max']]) {
    out.push(`<line x1="${x(q)}" y1="${top}" x2="${x(q)}" y2="${bottom}" stroke="#e9ecef"/>`);
    out.push(`<text x="${x(q)}" y="${bottom + 15}" text-anchor="middle" fill="#495057">${label}</text>`);
  }
  out.push(`<text x="${left - 6}" y="${top - 10}" text-anchor="end" fill="#495057">${esc(unit)}</text>`);
  out.push(`<text x="${right}" y="${bottom + 30}" text-anchor="end" fill="#495057">percentile of all samples (log scales)</text>`);
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[1]).toFixed(1)},${y(Math.max(p[0], lo)).toFixed(1)}`).join(' ');
    const color = COLORS[i % COLORS.length];
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    out.push(`<rect x="${left + 10 + i * 240}" y="${H - 22}" width="14" height="4" fill="${color}"/>`);
    out.push(`<text x="${left + 30 + i * 240}" y="${H - 16}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Downsampled CDF points of raw samples: dense enough to draw, small enough to store. */
export function cdfPoints(samples) {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  if (n === 0) return [];
  const qs = [];
  for (let i = 0; i < 90; i++) qs.push(i / 100);
  for (let i = 0; i < 90; i++) qs.push(0.9 + i / 1000);
  for (let i = 0; i <= 10; i++) qs.push(0.99 + i / 1000);
  return qs.map((q) => [s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))], q]).map(([v, q]) => [Math.round(v * 100) / 100, Math.round(q * 1000) / 1000]);
}
