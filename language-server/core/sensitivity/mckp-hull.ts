/**
 * LP relaxation of the multiple-choice knapsack (minimisation form). Each item's choices are cut
 * down to their lower convex hull over (cost, value), starting from the cheapest choice; the hull's
 * edges (increments) of all items, sorted by value gained per cost, are taken greedily, the last
 * one fractionally. Built once per instance; a budget query is a binary search over the prefix
 * sums of the sorted increments.
 */
import type { MckpItem } from './mckp-types';

/** One item's lower convex hull: choice indices by rising cost, and each edge's gain per cost. */
export interface Hull {
  /** Choice index of each hull vertex; vertex 0 is the cheapest choice with the least value. */
  k: number[];
  /** slope[j] = (value[j−1] − value[j]) / (cost[j] − cost[j−1]) of the edge into vertex j; slope[0] = Infinity. */
  slope: number[];
}

/** One hull edge: moving item `item` from its vertex j − 1 to vertex j. */
export interface Increment {
  item: number;
  j: number;
  cost: number;
  gain: number;
  slope: number;
}

/** Where the LP greedy stops at a budget. */
export interface LpBreak {
  /** Increments taken whole (the first `taken` of the sorted list). */
  taken: number;
  /** Gain per cost of the first increment not taken (the LP's dual price λ); 0 when all were taken. */
  lambda: number;
  /** Hull vertex of each item after the whole increments. */
  at: Int32Array;
}

function lowerHull(it: MckpItem): Hull {
  const pts = it.costs.map((c, k) => ({ c, v: it.values[k]!, k })).sort((a, b) => a.c - b.c || a.v - b.v || a.k - b.k);
  const hull = [pts[0]!];
  for (const p of pts) {
    // Only points that lower the value can be on the hull; equal-cost later points never do.
    if (p.v >= hull[hull.length - 1]!.v) continue;
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      // b on or above the segment a→p: drop it, so slopes strictly decrease along the hull.
      if ((b.v - a.v) * (p.c - a.c) >= (p.v - a.v) * (b.c - a.c)) hull.pop();
      else break;
    }
    hull.push(p);
  }
  return { k: hull.map((p) => p.k), slope: hull.map((p, j) => (j ? (hull[j - 1]!.v - p.v) / (p.c - hull[j - 1]!.c) : Infinity)) };
}

export class LpRelaxation {
  readonly hulls: Hull[];
  /** All hull edges by falling slope (an item's edges stay in hull order). */
  readonly steps: Increment[];
  /** Σ cost of each item's hull vertex 0 (its cheapest choice). */
  readonly baseCost: number;
  /** prefixCost[t] = Σ cost of steps[0 … t−1] (exact: integer costs below 2^53). */
  private readonly prefixCost: Float64Array;

  constructor(private readonly items: MckpItem[]) {
    this.hulls = items.map(lowerHull);
    this.baseCost = items.reduce((a, it, i) => a + it.costs[this.hulls[i]!.k[0]!]!, 0);
    const steps: Increment[] = [];
    this.hulls.forEach((h, i) => {
      const it = items[i]!;
      for (let j = 1; j < h.k.length; j++) {
        steps.push({ item: i, j, cost: it.costs[h.k[j]!]! - it.costs[h.k[j - 1]!]!, gain: it.values[h.k[j - 1]!]! - it.values[h.k[j]!]!, slope: h.slope[j]! });
      }
    });
    steps.sort((a, b) => b.slope - a.slope || a.item - b.item || a.j - b.j);
    this.steps = steps;
    this.prefixCost = new Float64Array(steps.length + 1);
    steps.forEach((s, t) => { this.prefixCost[t + 1] = this.prefixCost[t]! + s.cost; });
  }

  /** The greedy's stop at a budget ≥ baseCost: whole increments taken, λ, and every item's vertex. */
  breakAt(budget: number): LpBreak {
    const left = budget - this.baseCost;
    // Largest t with prefixCost[t] ≤ left (prefix sums rise strictly: every edge costs > 0).
    let lo = 0;
    let hi = this.steps.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.prefixCost[mid]! <= left) lo = mid;
      else hi = mid - 1;
    }
    const at = new Int32Array(this.items.length);
    for (let t = 0; t < lo; t++) at[this.steps[t]!.item]!++;
    return { taken: lo, lambda: lo < this.steps.length ? this.steps[lo]!.slope : 0, at };
  }

  /** Cost of the LP's t-th vertex: every item's hull vertex after the first t increments. */
  vertexCost(t: number): number {
    return this.baseCost + this.prefixCost[t]!;
  }

  /**
   * Choices at the LP vertices ts (ascending increment counts). At such a budget the LP takes
   * whole increments only, so its bound is met by an integral assignment: each one is optimal.
   */
  vertices(ts: number[]): number[][] {
    const pos = new Int32Array(this.items.length);
    const out: number[][] = [];
    let t = 0;
    for (const target of ts) {
      for (; t < target; t++) pos[this.steps[t]!.item]!++;
      out.push(this.hulls.map((h, i) => h.k[pos[i]!]!));
    }
    return out;
  }

  /** Number of LP vertices minus one (the increments). */
  get size(): number {
    return this.steps.length;
  }

  /** The LP optimum at a budget: no assignment within it has a smaller Σ value (Infinity below baseCost). */
  bound(budget: number): number {
    if (budget < this.baseCost) return Infinity;
    const b = this.breakAt(budget);
    let v = 0;
    let cost = 0;
    this.hulls.forEach((h, i) => {
      const k = h.k[b.at[i]!]!;
      v += this.items[i]!.values[k]!;
      cost += this.items[i]!.costs[k]!;
    });
    return v - b.lambda * (budget - cost);
  }
}
