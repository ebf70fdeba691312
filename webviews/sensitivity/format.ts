// Number and size formatting and colour scales of the Sensitivity view.

/** A compact number: 4 significant digits, exponent form outside [1e-3, 1e5). */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return v.toPrecision(4).replace(/\.?0+$/, '');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = -1;
  do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Position of a positive score on a log scale between 10^lo and 10^hi, in [0, 1]. */
export function heat(v: number, lo: number, hi: number): number {
  if (!(v > 0)) return 0;
  const t = (Math.log10(v) - lo) / (hi - lo || 1);
  return Math.max(0, Math.min(1, t));
}

/** CSS class of a bit width (colours come from theme chart variables in styles.ts). */
export function bitsClass(bits: number): string {
  return bits <= 2 ? 'b2' : bits === 3 ? 'b3' : bits === 4 ? 'b4' : bits < 8 ? 'b5' : 'b8';
}
