/**
 * Exact MCKP search around the LP solution: a bounded Pareto dynamic programme over the items,
 * nearest the LP's break first (the expanding-core idea of Pisinger's minimal MCKP algorithm).
 *
 * Start from x̄, the LP's integral part (every item at its hull vertex after the whole increments),
 * with F = budget − cost(x̄) ≥ 0 unused. A state is a set of changes to the items processed so
 * far: Δcost d and Δvalue δ against x̄ (the items not yet processed stay at x̄). States are kept
 * only when no other state has both a smaller-or-equal d and a smaller-or-equal δ (dominance), and
 * only while their bound beats the incumbent. The bound of a state uses the items not yet
 * processed: at its vertex in x̄, an item's every choice lies on or above its hull's supporting
 * lines, so moving it to a dearer choice gains at most u (its next hull edge's slope) per byte and
 * moving it to a cheaper choice loses at least w (its previous edge's slope) per byte, with
 * u ≤ λ ≤ w. With U = max u and W = min w over the remaining items and R = F − d the room left:
 *   final value ≥ V̄ + δ − U·R      (R ≥ 0)
 *   final value ≥ V̄ + δ + W·(−R)   (R < 0; no feasible completion when W = ∞).
 * Items are processed by how close their slopes are to λ, so U and W move away from λ quickly and
 * the bound tightens; a state with d ≤ F is itself a full assignment and may become the incumbent.
 * When no state is left, the incumbent is optimal. Two limits keep the work bounded (live states
 * per item, state visits in all): states dropped by them give the certified lower bound (their
 * least bound) instead of a proof.
 */
import type { LpRelaxation } from './mckp-hull';
import type { MckpItem } from './mckp-types';

export interface SearchResult {
  choice: number[];
  /** Least bound among states the limits dropped (Infinity when none: the choice is optimal). */
  dropped: number;
  /** States created over the whole search (for benchmarks). */
  states: number;
  /** State visits (states × choices tried), the quantity `maxWork` limits. */
  work: number;
}

/** Growable parallel arrays of search states, sorted by d with δ strictly falling. */
class States {
  d: Float64Array;
  v: Float64Array;
  lb: Float64Array;
  node: Int32Array;
  size = 0;

  constructor(cap: number) {
    this.d = new Float64Array(cap);
    this.v = new Float64Array(cap);
    this.lb = new Float64Array(cap);
    this.node = new Int32Array(cap);
  }

  push(d: number, v: number, lb: number, node: number): void {
    if (this.size === this.d.length) this.grow();
    const s = this.size++;
    this.d[s] = d;
    this.v[s] = v;
    this.lb[s] = lb;
    this.node[s] = node;
  }

  private grow(): void {
    const cap = this.d.length * 2;
    const d = new Float64Array(cap); d.set(this.d); this.d = d;
    const v = new Float64Array(cap); v.set(this.v); this.v = v;
    const lb = new Float64Array(cap); lb.set(this.lb); this.lb = lb;
    const node = new Int32Array(cap); node.set(this.node); this.node = node;
  }
}

/** Back pointers of the states: node = (parent node, item, choice); −1 is x̄ itself. */
class ChoiceLog {
  parent = new Int32Array(1024);
  item = new Int32Array(1024);
  choice = new Int32Array(1024);
  size = 0;

  add(parent: number, item: number, choice: number): number {
    if (this.size === this.parent.length) {
      const grow = (a: Int32Array): Int32Array<ArrayBuffer> => { const b = new Int32Array(a.length * 2); b.set(a); return b; };
      this.parent = grow(this.parent);
      this.item = grow(this.item);
      this.choice = grow(this.choice);
    }
    this.parent[this.size] = parent;
    this.item[this.size] = item;
    this.choice[this.size] = choice;
    return this.size++;
  }

  apply(node: number, choice: number[]): void {
    for (let n = node; n >= 0; n = this.parent[n]!) choice[this.item[n]!] = this.choice[n]!;
  }
}

const GREEDY = -2;

/** Greedy completion of x̄: further hull increments in slope order wherever they still fit. */
function greedyFill(lp: LpRelaxation, items: MckpItem[], at: Int32Array, taken: number, free: number): number[] {
  const pos = Int32Array.from(at);
  let left = free;
  for (let t = taken + 1; t < lp.steps.length && left > 0; t++) {
    const s = lp.steps[t]!;
    if (pos[s.item] === s.j - 1 && s.cost <= left) { pos[s.item] = s.j; left -= s.cost; }
  }
  return items.map((_, i) => lp.hulls[i]!.k[pos[i]!]!);
}

/** The optimal assignment at a budget ≥ lp.baseCost (or the best found within the state limit). */
export function searchOptimum(lp: LpRelaxation, items: MckpItem[], budget: number, limits: { maxStates: number; maxWork: number }): SearchResult {
  const { maxStates, maxWork } = limits;
  const brk = lp.breakAt(budget);
  const n = items.length;
  const base = items.map((_, i) => lp.hulls[i]!.k[brk.at[i]!]!);
  // Every increment taken: each item is at its least value, which nothing beats.
  if (brk.taken === lp.steps.length) return { choice: base, dropped: Infinity, states: 0, work: 0 };
  let vbar = 0;
  let cbar = 0;
  for (let i = 0; i < n; i++) { vbar += items[i]!.values[base[i]!]!; cbar += items[i]!.costs[base[i]!]!; }
  const free = budget - cbar;
  const lambda = brk.lambda;

  const greedy = greedyFill(lp, items, brk.at, brk.taken, free);
  let ub = greedy.reduce((a, k, i) => a + items[i]!.values[k]!, 0);
  let incumbent = GREEDY;

  // Items that can change, nearest the break slope first; suffix max u and min w of the rest.
  const u = new Float64Array(n);
  const w = new Float64Array(n);
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    if (items[i]!.costs.length < 2) continue;
    const h = lp.hulls[i]!;
    const a = brk.at[i]!;
    u[i] = a + 1 < h.k.length ? h.slope[a + 1]! : 0;
    w[i] = a > 0 ? h.slope[a]! : Infinity;
    order.push(i);
  }
  const key = (i: number): number => Math.min(lambda - u[i]!, w[i]! - lambda);
  order.sort((a, b) => key(a) - key(b) || a - b);
  const m = order.length;
  const sufU = new Float64Array(m + 1);
  const sufW = new Float64Array(m + 1).fill(Infinity);
  for (let p = m - 1; p >= 0; p--) {
    sufU[p] = Math.max(sufU[p + 1]!, u[order[p]!]!);
    sufW[p] = Math.min(sufW[p + 1]!, w[order[p]!]!);
  }

  const log = new ChoiceLog();
  let work = 0;
  let dropped = Infinity;
  let cur = new States(64);
  cur.push(0, 0, -Infinity, -1);
  let next = new States(64);
  // lists[0]: item i stays at x̄; lists[1 + a]: item i moves to its a-th other choice. Each is the
  // current list shifted by a constant and filtered, so each stays sorted by d.
  const lists: States[] = [];
  const altK: number[] = [];
  const altD: number[] = [];
  const altV: number[] = [];
  let created = 0;

  for (let p = 0; p < m && cur.size > 0; p++) {
    const i = order[p]!;
    const U = sufU[p + 1]!;
    const W = sufW[p + 1]!;
    const bound = (d: number, v: number): number => {
      const room = free - d;
      if (room >= 0) return vbar + v - U * room;
      return W === Infinity ? Infinity : vbar + v - W * room;
    };
    const it = items[i]!;
    const k0 = base[i]!;
    altK.length = altD.length = altV.length = 0;
    for (let k = 0; k < it.costs.length; k++) {
      if (k === k0) continue;
      altK.push(k);
      altD.push(it.costs[k]! - it.costs[k0]!);
      altV.push(it.values[k]! - it.values[k0]!);
    }
    while (lists.length < 1 + altK.length) lists.push(new States(64));
    for (let l = 0; l <= altK.length; l++) lists[l]!.size = 0;
    let moved = 0;
    for (let a = 0; a < altK.length; a++) {
      const out = lists[1 + a]!;
      const dd = altD[a]!;
      const dv = altV[a]!;
      for (let s = 0; s < cur.size; s++) {
        const nd = cur.d[s]! + dd;
        const nv = cur.v[s]! + dv;
        const lb = bound(nd, nv);
        if (lb >= ub) continue;
        if (nd <= free && vbar + nv < ub) { ub = vbar + nv; incumbent = log.add(cur.node[s]!, i, altK[a]!); }
        out.push(nd, nv, lb, cur.node[s]!); // node: the parent's, until the merge keeps it
      }
      moved += out.size;
    }
    const stay = lists[0]!;
    for (let s = 0; s < cur.size; s++) {
      const lb = bound(cur.d[s]!, cur.v[s]!);
      if (lb < ub) stay.push(cur.d[s]!, cur.v[s]!, lb, cur.node[s]!);
    }
    created += moved;
    work += cur.size * (1 + altK.length);
    // Fold the lists into one, two at a time (dominance filtering commutes with union).
    let acc = stay;
    for (let a = 0; a < altK.length; a++) {
      const alt = lists[1 + a]!;
      if (!alt.size) continue;
      const k = altK[a]!;
      mergeDominance(acc, alt, next, (parent) => log.add(parent, i, k));
      [acc, next] = [next, acc];
    }
    // `acc` and `next` are now the two buffers `stay` and `next` were, in some order: the old
    // current list becomes the next item's `stay` buffer.
    lists[0] = cur;
    cur = acc;
    if (cur.size > maxStates) dropped = Math.min(dropped, keepBest(cur, maxStates));
    if (work > maxWork) {
      // Work limit: stop, and let every live state's bound stand as the certificate.
      for (let s = 0; s < cur.size; s++) if (cur.lb[s]! < ub) dropped = Math.min(dropped, cur.lb[s]!);
      break;
    }
  }

  const choice = incumbent === GREEDY ? greedy : base;
  if (incumbent !== GREEDY) log.apply(incumbent, choice);
  return { choice, dropped, states: created, work };
}

/**
 * Merges two lists sorted by d into `out` by rising d (then δ), keeping a state only when its δ is
 * below every δ kept before it, so no kept state is dominated. Back pointers of `b`'s states that
 * are kept go through `relink`.
 */
function mergeDominance(a: States, b: States, out: States, relink?: (node: number) => number): void {
  out.size = 0;
  let best = Infinity;
  let ia = 0;
  let ib = 0;
  const na = a.size;
  const nb = b.size;
  while (ia < na || ib < nb) {
    const takeA = ib >= nb || (ia < na && (a.d[ia]! < b.d[ib]! || (a.d[ia] === b.d[ib] && a.v[ia]! <= b.v[ib]!)));
    if (takeA) {
      const v = a.v[ia]!;
      if (v < best) { best = v; out.push(a.d[ia]!, v, a.lb[ia]!, a.node[ia]!); }
      ia++;
    } else {
      const v = b.v[ib]!;
      if (v < best) { best = v; out.push(b.d[ib]!, v, b.lb[ib]!, relink ? relink(b.node[ib]!) : b.node[ib]!); }
      ib++;
    }
  }
}

/** Keeps the `keep` states with the least bounds (in their d order); returns the least bound dropped. */
function keepBest(st: States, keep: number): number {
  const lbs = st.lb.slice(0, st.size);
  const threshold = select(lbs, keep - 1);
  let firstDropped = Infinity;
  for (let j = keep; j < lbs.length; j++) if (lbs[j]! < firstDropped) firstDropped = lbs[j]!;
  // States with a bound equal to the threshold fill the places the smaller ones leave.
  let ties = keep;
  for (let s = 0; s < st.size; s++) if (st.lb[s]! < threshold) ties--;
  let out = 0;
  for (let s = 0; s < st.size; s++) {
    const lb = st.lb[s]!;
    if (lb > threshold || (lb === threshold && ties-- <= 0)) continue;
    st.d[out] = st.d[s]!;
    st.v[out] = st.v[s]!;
    st.lb[out] = lb;
    st.node[out] = st.node[s]!;
    out++;
  }
  st.size = out;
  return firstDropped;
}

/** Rearranges `a` so that a[k] is its k-th smallest value, smaller-or-equal ones before it and larger-or-equal after (Hoare's selection). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    // Median of three as the pivot keeps sorted runs from going quadratic.
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}
