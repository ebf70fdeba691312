/**
 * How numbers read everywhere a person sees them (CLI, trees, notifications, webviews): sizes in
 * binary units, compact significant figures, durations, and axis ticks at round values. Pure; the
 * one module of the core the webviews may import (layer `core-format`, eslint-layering.mjs).
 */

/** A byte count in binary units: 512 → "512 B", 1536 → "1.5 KiB", 1572864 → "1.50 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  if (a < 1024) return `${sign}${Math.round(a)} B`;
  if (a < 1024 ** 2) return `${sign}${(a / 1024).toFixed(1)} KiB`;
  if (a < 1024 ** 3) return `${sign}${(a / 1024 ** 2).toFixed(2)} MiB`;
  return `${sign}${(a / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * A compact number: `digits` significant figures, trailing zeros dropped, exponent form (1.2e-5)
 * only outside [1e-3, 1e5). Missing values (undefined, null after JSON, NaN) read "—".
 */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, digits - 2)).replace(/\.?0+e/, 'e');
  return Number(v.toPrecision(digits)).toString();
}

/** 42 s, 3 min 5 s, 1 h 2 min. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Round tick values inside [lo, hi] (steps of 1, 2 or 5 × 10^k), about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  // the round step whose tick count is nearest `count` (the larger step on a tie)
  const ticks = (s: number): number => Math.floor(hi / s + 1e-9) - Math.ceil(lo / s - 1e-9) + 1;
  const step = [10, 5, 2, 1, 0.5].map((m) => m * p).reduce((best, s) => (Math.abs(ticks(s) - count) < Math.abs(ticks(best) - count) ? s : best));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Round values within [lo, hi] (both > 0) for a log axis: the decades 10^k, with 2·10^k and 5·10^k
 * added when the range spans fewer than three decades; the ends when nothing round falls inside.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > 0)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  const inside = (mults: number[]): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of mults) { const v = Number((m * 10 ** k).toPrecision(12)); if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v); }
    }
    return out;
  };
  const decades = inside([1]);
  if (decades.length >= 3) return decades;
  const finer = inside([1, 2, 5]);
  return finer.length >= 2 ? finer : [lo, hi];
}

/** A tick label: as few decimals as the step between ticks needs. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('.0e', 'e');
  // the decimals that write the step exactly (0.5 → 1, 0.02 → 2, 20 → 0)
  let decimals = 0;
  const s = Math.abs(step) || 1;
  while (decimals < 6 && Math.abs(s * 10 ** decimals - Math.round(s * 10 ** decimals)) > 1e-6 * s * 10 ** decimals) decimals++;
  return v.toFixed(decimals);
}
