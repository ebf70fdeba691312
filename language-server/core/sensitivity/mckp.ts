/**
 * Multiple-choice knapsack (MCKP), minimisation form, solved by dynamic programming over budget
 * units: pick exactly one choice per item so that Σ cost ≤ budget and Σ value is minimal.
 *
 * The whole DP table is built once (O(items · units · choices)); every budget query after that is a
 * lookup in the last row plus a backtrack through the stored argmin choices (O(items)), which is
 * what lets a UI slider re-solve on every move.
 *
 * Exactness. Costs are non-negative integers (bytes or bits). Each item's cheapest choice is taken
 * as its base and the DP runs over the extra cost above Σ base. The unit is the gcd of all extra
 * costs: every extra cost is then a whole number of units and the DP is exact (`exact`). Only when
 * that table would exceed `maxCells` is a coarser unit used: extra costs are rounded to the nearest
 * unit (rounding errors of many items cancel, where rounding up would lose up to one unit per
 * item), and a query walks down from a few units above the budget to the first DP answer whose
 * true cost fits, so every answer fits the budget. Every answer also carries a certificate, the
 * LP-relaxation lower bound at the same budget (greedy over the lower convex hull of each item's
 * choices): the distance to the optimum is at most value − lowerBound.
 */

/** One item's choices: integer costs and values (e.g. bytes and sensitivity) of the same length. */
export interface MckpItem {
  costs: number[];
  values: number[];
}

export interface MckpSolution {
  /** Index of the chosen choice of each item. */
  choice: number[];
  /** Σ cost of the chosen choices (exact, in the caller's integer unit). */
  cost: number;
  /** Σ value of the chosen choices. */
  value: number;
  /** False when even the cheapest choice of every item exceeds the budget (choice = cheapest). */
  feasible: boolean;
  /** LP-relaxation bound: no assignment within the budget has a smaller Σ value. */
  lowerBound: number;
}

export interface MckpOptions {
  /** Upper bound on items × (units + 1) of the DP table (one byte per cell; ~15 ms per 1e6 cells with 4 choices). Default 6e6. */
  maxCells?: number;
}

/** Items re-solved around the LP break by `refine`, and the cell bound of their table. */
const CORE_ITEMS = 48;
const CORE_CELLS = 2.5e6;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export class MckpTable {
  /** Integer cost of one DP unit. */
  readonly unit: number;
  /** True when every extra cost is a whole number of units (the answers are optimal). */
  readonly exact: boolean;
  /** Σ of each item's cheapest cost: below this no assignment fits. */
  readonly baseCost: number;
  /** Σ of each item's dearest cost: from this budget on the answer no longer changes. */
  readonly maxCost: number;
  /** Number of budget units covered by the table (0 … units). */
  readonly units: number;
  private readonly items: MckpItem[];
  /** Units above the budget a query starts from when rounding made unit counts approximate. */
  private readonly slack: number;
  private readonly extraUnits: Int32Array[];
  /** Argmin choice per item and unit, row-major [item][unit]. */
  private readonly argmin: Uint8Array;
  /** Best Σ value for each unit of extra budget (the DP's last row, non-increasing). */
  private readonly best: Float64Array;
  /** LP relaxation: Σ cheapest values, then hull increments sorted by value gained per cost. */
  private readonly lpBase: number;
  private readonly lpSteps: HullStep[];
  private readonly lpStart: number[];

  constructor(items: MckpItem[], opts: MckpOptions = {}) {
    const maxCells = opts.maxCells ?? 6e6;
    for (const [i, it] of items.entries()) {
      if (!it.costs.length || it.costs.length !== it.values.length) throw new Error(`item ${i}: costs and values must be non-empty and of the same length`);
      if (it.costs.length > 255) throw new Error(`item ${i}: at most 255 choices`);
      for (const c of it.costs) if (!Number.isSafeInteger(c) || c < 0) throw new Error(`item ${i}: cost ${c} is not a non-negative integer`);
      for (const v of it.values) if (!Number.isFinite(v)) throw new Error(`item ${i}: value ${v} is not finite`);
    }
    this.items = items;
    const base = items.map((it) => Math.min(...it.costs));
    this.baseCost = base.reduce((a, b) => a + b, 0);
    this.maxCost = items.reduce((a, it) => a + Math.max(...it.costs), 0);
    const extras = items.map((it, i) => it.costs.map((c) => c - base[i]!));
    let g = 0;
    for (const e of extras) for (const d of e) g = gcd(g, d);
    const range = this.maxCost - this.baseCost;
    const L = Math.max(items.length, 1);
    let unit = g || 1;
    if ((Math.floor(range / unit) + 1) * L > maxCells) unit = Math.ceil(range / Math.max(1, Math.floor(maxCells / L) - 1));
    this.unit = unit;
    this.exact = unit === (g || 1);
    this.extraUnits = extras.map((e) => Int32Array.from(e, (d) => (d > 0 ? Math.max(1, Math.round(d / unit)) : 0)));
    this.slack = this.exact ? 0 : Math.ceil(Math.sqrt(items.length)) + 1;
    const U = this.extraUnits.reduce((a, e) => a + Math.max(...e), 0);
    this.units = U;
    const W = U + 1;
    this.argmin = new Uint8Array(items.length * W);
    let prev = new Float64Array(W);
    let cur = new Float64Array(W);
    for (let i = 0; i < items.length; i++) {
      const du = this.extraUnits[i]!;
      const vals = items[i]!.values;
      const row = i * W;
      cur.fill(Infinity);
      for (let k = 0; k < du.length; k++) {
        const d = du[k]!;
        const v = vals[k]!;
        // Strict < keeps the lowest-index choice among equal values: deterministic answers.
        for (let c = d; c < W; c++) {
          const cand = prev[c - d]! + v;
          if (cand < cur[c]!) { cur[c] = cand; this.argmin[row + c] = k; }
        }
      }
      [prev, cur] = [cur, prev];
    }
    this.best = prev;
    const lp = lpRelaxation(items);
    this.lpBase = lp.base;
    this.lpSteps = lp.steps;
    this.lpStart = lp.start;
  }

  /** The LP-relaxation optimum at a budget: a lower bound on every feasible Σ value. */
  lowerBound(budget: number): number {
    if (budget < this.baseCost) return Infinity;
    let left = budget - this.baseCost;
    let v = this.lpBase;
    for (const s of this.lpSteps) {
      if (s.cost <= left) { v -= s.gain; left -= s.cost; continue; }
      v -= (s.gain * left) / s.cost;
      break;
    }
    return v;
  }

  /**
   * The optimal assignment for an integer budget (same unit as the costs); with a coarse unit, the
   * better of the table's answer and a core refinement (see `refine`).
   */
  solve(budget: number): MckpSolution {
    const s = this.solveTable(budget);
    if (this.exact || !s.feasible || this.items.length <= CORE_ITEMS) return s;
    const r = this.refine(budget);
    return r && r.value < s.value ? r : s;
  }

  /**
   * Core refinement for coarse tables (Pisinger's idea, simplified): the LP optimum is integral
   * except around its break slope λ, so the items whose hull slopes lie nearest λ form a core that
   * is re-solved by its own DP (with a unit fine relative to those items) on the budget left by the
   * other items, which stay at their LP choices.
   */
  private refine(budget: number): MckpSolution | undefined {
    const choice = [...this.lpStart];
    let left = budget - this.baseCost;
    let lambda = 0;
    for (const st of this.lpSteps) {
      if (st.cost > left) { lambda = st.gain / st.cost; break; }
      choice[st.item] = st.k;
      left -= st.cost;
    }
    if (lambda === 0) return undefined; // every increment fits: the LP answer is integral and optimal
    const dist = new Float64Array(this.items.length).fill(Infinity);
    for (const st of this.lpSteps) dist[st.item] = Math.min(dist[st.item]!, Math.abs(Math.log(st.gain / st.cost / lambda)));
    const core = [...dist.keys()].filter((i) => dist[i]! < Infinity).sort((a, b) => dist[a]! - dist[b]!).slice(0, CORE_ITEMS);
    const inCore = new Set(core);
    let fixed = 0;
    choice.forEach((k, i) => { if (!inCore.has(i)) fixed += this.items[i]!.costs[k]!; });
    const sub = new MckpTable(core.map((i) => this.items[i]!), { maxCells: CORE_CELLS });
    const r = sub.solveTable(budget - fixed);
    if (!r.feasible) return undefined;
    core.forEach((i, j) => { choice[i] = r.choice[j]!; });
    return { ...this.totals(choice), feasible: true, lowerBound: this.lowerBound(budget) };
  }

  /** The DP table's answer: the highest unit count (from a few above the budget) whose true cost fits. */
  private solveTable(budget: number): MckpSolution {
    if (budget < this.baseCost) {
      const choice = this.items.map((it) => it.costs.indexOf(Math.min(...it.costs)));
      return { ...this.totals(choice), feasible: false, lowerBound: Infinity };
    }
    const top = Math.min(this.units, Math.floor((budget - this.baseCost) / this.unit) + this.slack);
    for (let c = top; c >= 0; c--) {
      const t = this.totals(this.backtrack(c));
      if (t.cost <= budget) return { ...t, feasible: true, lowerBound: this.lowerBound(budget) };
    }
    // Unreachable: only cheapest choices round to 0 units, so c = 0 costs baseCost ≤ budget.
    throw new Error('MCKP: no answer within a feasible budget');
  }

  private backtrack(units: number): number[] {
    const W = this.units + 1;
    const choice = new Array<number>(this.items.length);
    let c = units;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const k = this.argmin[i * W + c]!;
      choice[i] = k;
      c -= this.extraUnits[i]![k]!;
    }
    return choice;
  }

  /** Best Σ value of the DP within a budget, without backtracking (exact tables only; Infinity below baseCost). */
  valueAt(budget: number): number {
    if (budget < this.baseCost) return Infinity;
    return this.best[Math.min(this.units, Math.floor((budget - this.baseCost) / this.unit))]!;
  }

  /**
   * The budget → optimal value staircase: every budget (in units) where the optimum improves, as
   * exact solutions. With more than `maxPoints` steps, steps are kept evenly spread over the budget
   * range (the first and last always kept).
   */
  frontier(maxPoints = 256): MckpSolution[] {
    const steps: number[] = [0];
    for (let c = 1; c <= this.units; c++) if (this.best[c]! < this.best[c - 1]!) steps.push(c);
    let keep = steps;
    if (steps.length > maxPoints) {
      keep = [];
      for (let j = 0; j < maxPoints; j++) keep.push(steps[Math.round((j * (steps.length - 1)) / (maxPoints - 1))]!);
      keep = [...new Set(keep)];
    }
    // Points straight from the table (cost = the backtracked assignment's true cost): cheap enough
    // to draw hundreds, and exact whenever the unit is.
    return keep.map((c) => ({ ...this.totals(this.backtrack(c)), feasible: true, lowerBound: this.lowerBound(this.baseCost + c * this.unit) }));
  }

  private totals(choice: number[]): { choice: number[]; cost: number; value: number } {
    let cost = 0;
    let value = 0;
    choice.forEach((k, i) => { cost += this.items[i]!.costs[k]!; value += this.items[i]!.values[k]!; });
    return { choice, cost, value };
  }
}

/** One increment of an item's lower convex hull: moving from its previous hull choice to choice k. */
interface HullStep { item: number; k: number; cost: number; gain: number }

/**
 * Each item's lower convex hull over (cost, value) from its cheapest choice, cut into increments
 * (extra cost, value gained), all increments sorted by gain per cost. Taking them greedily, the last
 * one fractionally, is the LP optimum of the MCKP (hull slopes of one item are decreasing, so the
 * greedy order never takes an item's increment before its predecessor).
 */
function lpRelaxation(items: MckpItem[]): { base: number; start: number[]; steps: HullStep[] } {
  let base = 0;
  const start: number[] = [];
  const steps: HullStep[] = [];
  items.forEach((it, i) => {
    const pts = it.costs.map((c, k) => ({ c, v: it.values[k]!, k })).sort((a, b) => a.c - b.c || a.v - b.v);
    // Start at the best value among the cheapest, then keep only points that lower the value.
    const first = pts[0]!;
    base += first.v;
    start.push(first.k);
    const hull = [first];
    for (const p of pts) {
      if (p.v >= hull[hull.length - 1]!.v) continue;
      while (hull.length >= 2) {
        const a = hull[hull.length - 2]!;
        const b = hull[hull.length - 1]!;
        // b is on or above the segment a→p: drop it (keep the lower convex hull).
        if ((b.v - a.v) * (p.c - a.c) >= (p.v - a.v) * (b.c - a.c)) hull.pop();
        else break;
      }
      hull.push(p);
    }
    for (let j = 1; j < hull.length; j++) steps.push({ item: i, k: hull[j]!.k, cost: hull[j]!.c - hull[j - 1]!.c, gain: hull[j - 1]!.v - hull[j]!.v });
  });
  steps.sort((a, b) => b.gain / b.cost - a.gain / a.cost);
  return { base, start, steps };
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
