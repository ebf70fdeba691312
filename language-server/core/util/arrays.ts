/**
 * Array helpers that hold for any length. `a.push(...b)` and `Math.min(...b)` pass every element as
 * a call argument and throw "Maximum call stack size exceeded" past about 120k elements (130k
 * values on one recipe line did); these loop instead.
 */

/** Appends every element of `src` to `dst`; returns `dst`. */
export function pushAll<T>(dst: T[], src: readonly T[]): T[] {
  for (let i = 0; i < src.length; i++) dst.push(src[i]!);
  return dst;
}

/** The smallest value (Infinity for none). */
export function minOf(xs: readonly number[]): number {
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! < m) m = xs[i]!;
  return m;
}

/** The largest value (-Infinity for none). */
export function maxOf(xs: readonly number[]): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
}
