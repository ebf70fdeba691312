/**
 * Reference for the MCKP tests and benchmark: the textbook dynamic programme over cost units,
 * exact when every cost is a whole number of units (the gcd of the costs above each item's
 * cheapest). It shares no code with the solver; it is slow (items × units × choices) and only fit
 * for instances whose costs are small multiples of a common unit.
 */
import type { MckpItem } from '../../../language-server/core/sensitivity/mckp';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export interface ReferenceTable {
  /** Least Σ value with Σ cost ≤ budget (Infinity when nothing fits). */
  valueAt(budget: number): number;
  units: number;
}

export function referenceDp(items: MckpItem[], maxUnits = 5e5): ReferenceTable {
  const low = items.map((it) => Math.min(...it.costs));
  const base = low.reduce((a, b) => a + b, 0);
  let unit = 0;
  items.forEach((it, i) => { for (const c of it.costs) unit = gcd(unit, c - low[i]!); });
  unit ||= 1;
  const extra = items.map((it, i) => it.costs.map((c) => (c - low[i]!) / unit));
  const units = extra.reduce((a, e) => a + Math.max(...e), 0);
  if (units > maxUnits) throw new Error(`reference DP: ${units} units is too many`);
  let prev = new Float64Array(units + 1);
  let cur = new Float64Array(units + 1);
  items.forEach((it, i) => {
    cur.fill(Infinity);
    extra[i]!.forEach((e, k) => {
      const v = it.values[k]!;
      for (let c = e; c <= units; c++) { const x = prev[c - e]! + v; if (x < cur[c]!) cur[c] = x; }
    });
    [prev, cur] = [cur, prev];
  });
  // Row 0 is all zeros (no item, any room), so best[c] is the least value within c units, not exactly c.
  const best = prev;
  return {
    units,
    valueAt: (budget) => (budget < base ? Infinity : best[Math.min(units, Math.floor((budget - base) / unit))]!),
  };
}
