/**
 * Multiple-choice knapsack (MCKP), minimisation form: pick exactly one choice per item so that
 * Σ cost ≤ budget and Σ value is minimal. Solved exactly per budget, with no scaling of the costs
 * (bytes up to GiB are fine): the LP relaxation (mckp-hull.ts) gives the break slope λ, a starting
 * assignment and a bound; a bounded Pareto search over the items nearest λ (mckp-search.ts) proves
 * the optimum, usually in about a millisecond for 1,000 items. Work limits keep pathological
 * instances bounded; an answer they cut short says so (`optimal: false`) and carries a certified
 * lower bound.
 */
import { maxOf } from '../util/arrays';
import { LpRelaxation } from './mckp-hull';
import { searchOptimum } from './mckp-search';
import type { MckpItem, MckpOptions, MckpSolution } from './mckp-types';

export type { MckpItem, MckpOptions, MckpSolution } from './mckp-types';

export class MckpSolver {
  /** Σ of each item's cheapest cost: below this no assignment fits. */
  readonly baseCost: number;
  /** Σ of each item's dearest cost: from this budget on the answer no longer changes. */
  readonly maxCost: number;
  private readonly lp: LpRelaxation;
  private readonly limits: { maxStates: number; maxWork: number };

  constructor(private readonly items: MckpItem[], opts: MckpOptions = {}) {
    for (const [i, it] of items.entries()) {
      if (!it.costs.length || it.costs.length !== it.values.length) throw new Error(`item ${i}: costs and values must be non-empty and of the same length`);
      for (const c of it.costs) if (!Number.isSafeInteger(c) || c < 0) throw new Error(`item ${i}: cost ${c} is not a non-negative integer`);
      for (const v of it.values) if (!Number.isFinite(v)) throw new Error(`item ${i}: value ${v} is not finite`);
    }
    this.maxCost = items.reduce((a, it) => a + maxOf(it.costs), 0);
    if (!Number.isSafeInteger(this.maxCost)) throw new Error(`total cost ${this.maxCost} exceeds 2^53: use a coarser integer unit`);
    this.limits = { maxStates: Math.max(1, opts.maxStates ?? 50_000), maxWork: Math.max(1, opts.maxWork ?? 1e6) };
    this.lp = new LpRelaxation(items);
    this.baseCost = this.lp.baseCost;
  }

  /** The LP-relaxation optimum at a budget: a lower bound on every feasible Σ value. */
  lpBound(budget: number): number {
    return this.lp.bound(budget);
  }

  /** The optimal assignment for a budget (same integer unit as the costs). */
  solve(budget: number): MckpSolution {
    if (Number.isNaN(budget)) throw new Error('MCKP: the budget is not a number');
    // Beyond maxCost every assignment fits: the answer no longer changes.
    budget = Math.min(budget, this.maxCost);
    if (budget < this.baseCost) {
      const choice = this.lp.hulls.map((h) => h.k[0]!);
      return { ...this.totals(choice), feasible: false, optimal: true, lowerBound: Infinity };
    }
    const r = searchOptimum(this.lp, this.items, budget, this.limits);
    const t = this.totals(r.choice);
    if (t.cost > budget) throw new Error(`MCKP: internal error, answer costs ${t.cost} over the budget ${budget}`);
    const optimal = r.dropped >= t.value;
    return { ...t, feasible: true, optimal, lowerBound: optimal ? t.value : Math.max(this.lp.bound(budget), r.dropped) };
  }

  /**
   * The budget → optimal value staircase, at most `maxPoints` points spread over the cost range,
   * each optimal for its own cost (costs rise, values fall). Points are the LP's vertices (whole
   * hull increments, optimal without search: ~3 per item, so plenty for large instances), plus,
   * when there are fewer vertices than points, exact solves at evenly spread budgets, which also
   * fill in the non-convex steps of small instances.
   */
  frontier(maxPoints = 256): MckpSolution[] {
    const n = Math.max(2, maxPoints);
    const ts: number[] = [];
    for (let j = 0; j < n; j++) {
      // Largest vertex at or below the j-th evenly spread cost.
      const target = this.baseCost + ((this.maxCost - this.baseCost) * j) / (n - 1);
      let lo = ts.length ? ts[ts.length - 1]! : 0;
      let hi = this.lp.size;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.lp.vertexCost(mid) <= target) lo = mid;
        else hi = mid - 1;
      }
      if (ts[ts.length - 1] !== lo) ts.push(lo);
    }
    if (ts[ts.length - 1] !== this.lp.size) ts.push(this.lp.size);
    const points = this.lp.vertices(ts).map((choice) => {
      const t = this.totals(choice);
      return { ...t, feasible: true, optimal: true, lowerBound: t.value };
    });
    const extra = n - points.length;
    for (let j = 0; j < extra; j++) points.push(this.solve(this.baseCost + Math.floor(((this.maxCost - this.baseCost) * j) / Math.max(1, extra - 1))));
    points.sort((a, b) => a.cost - b.cost || a.value - b.value);
    const stair: MckpSolution[] = [];
    for (const p of points) if (!stair.length || p.value < stair[stair.length - 1]!.value) stair.push(p);
    if (stair.length <= n) return stair;
    return [...new Set(Array.from({ length: n }, (_, j) => Math.round((j * (stair.length - 1)) / (n - 1))))].map((j) => stair[j]!);
  }

  private totals(choice: number[]): { choice: number[]; cost: number; value: number } {
    let cost = 0;
    let value = 0;
    choice.forEach((k, i) => { cost += this.items[i]!.costs[k]!; value += this.items[i]!.values[k]!; });
    return { choice, cost, value };
  }
}

/** Exhaustive search (for tests on small instances): the minimum Σ value with Σ cost ≤ budget. */
export function bruteForce(items: MckpItem[], budget: number): { value: number; choice: number[] } | undefined {
  let best: { value: number; choice: number[] } | undefined;
  const choice = new Array<number>(items.length).fill(0);
  const walk = (i: number, cost: number, value: number): void => {
    if (cost > budget) return;
    if (i === items.length) {
      if (!best || value < best.value) best = { value, choice: [...choice] };
      return;
    }
    const it = items[i]!;
    for (let k = 0; k < it.costs.length; k++) { choice[i] = k; walk(i + 1, cost + it.costs[k]!, value + it.values[k]!); }
  };
  walk(0, 0, 0);
  return best;
}
