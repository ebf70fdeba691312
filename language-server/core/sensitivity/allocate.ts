/**
 * LLM-MQ bit allocation over a sensitivity result: one width per layer from its candidates,
 * minimising Σ sensitivity under a weight-memory budget (bytes, or average code bits), with pinned
 * layers held at their width. Each budget is solved exactly (mckp.ts, about a millisecond for 1,000
 * layers), so a slider can re-solve on every move; changing the pins builds a new Allocator.
 */
import { MckpSolver, type MckpItem, type MckpOptions } from './mckp';
import type { Allocation, Budget, LayerSensitivity, SensitivityMetric } from './types';

export interface AllocatorOptions {
  /** Score every layer with this metric where it was computed (else the layer's own metric). */
  metric?: SensitivityMetric;
  /** Layer name → pinned width (one of the layer's candidates). When given, replaces the recipe's pins (`LayerSensitivity.pinned`). */
  pins?: Record<string, number>;
  /** Work limits of each solve (defaults suit 1,000 layers), see MckpOptions. */
  search?: MckpOptions;
}

export interface FrontierPoint {
  bytes: number;
  averageBits: number;
  predicted: number;
  bits: number[];
}

type Kind = Budget['kind'];

/** Scores a layer is allocated with: the asked metric if present, else the layer's own. */
export function layerScores(layer: LayerSensitivity, metric?: SensitivityMetric): number[] {
  const s = (metric && layer.scores[metric]) || layer.scores[layer.metric];
  if (!s || s.length !== layer.candidates.length) throw new Error(`layer ${layer.name}: no ${metric ?? layer.metric} scores for its candidates`);
  return s;
}

export class Allocator {
  readonly totalParams: number;
  private readonly solvers = new Map<Kind, MckpSolver>();
  /** Per layer: indices into its candidates that remain allowed (all, or the pinned one). */
  private readonly allowed: number[][];
  private readonly scores: number[][];

  constructor(readonly layers: LayerSensitivity[], private readonly opts: AllocatorOptions = {}) {
    this.totalParams = layers.reduce((a, l) => a + l.params, 0);
    const pins = opts.pins ?? Object.fromEntries(layers.filter((l) => l.pinned !== undefined).map((l) => [l.name, l.pinned!]));
    this.scores = layers.map((l) => layerScores(l, opts.metric));
    this.allowed = layers.map((l) => {
      const pin = pins[l.name];
      if (pin === undefined) return l.candidates.map((_, k) => k);
      const k = l.candidates.indexOf(pin);
      if (k < 0) throw new Error(`layer ${l.name}: pinned width ${pin} is not one of its candidates ${l.candidates.join(' ')}`);
      return [k];
    });
  }

  private solver(kind: Kind): MckpSolver {
    let t = this.solvers.get(kind);
    if (!t) {
      const items: MckpItem[] = this.layers.map((l, i) => ({
        costs: this.allowed[i]!.map((k) => (kind === 'bytes' ? l.bytes[k]!.total : l.params * l.candidates[k]!)),
        values: this.allowed[i]!.map((k) => this.scores[i]![k]!),
      }));
      t = new MckpSolver(items, this.opts.search);
      this.solvers.set(kind, t);
    }
    return t;
  }

  /** Builds the solvers now (they are otherwise built on the first solve of each kind). */
  prepare(kinds: Kind[] = ['bytes', 'bits']): void {
    for (const k of kinds) this.solver(k);
  }

  /** Smallest and largest sizes an allocation can have, in the budget's kind. */
  range(kind: Kind): { min: number; max: number } {
    const t = this.solver(kind);
    return kind === 'bytes' ? { min: t.baseCost, max: t.maxCost } : { min: t.baseCost / this.totalParams, max: t.maxCost / this.totalParams };
  }

  solve(budget: Budget): Allocation {
    const kind = budget.kind;
    const t = this.solver(kind);
    const limit = kind === 'bytes' ? Math.floor(budget.bytes) : Math.floor(budget.bits * this.totalParams + 1e-6);
    const s = t.solve(limit);
    return { ...this.describe(s.choice.map((j, i) => this.allowed[i]![j]!)), feasible: s.feasible, exact: s.optimal, lowerBound: s.lowerBound };
  }

  /** Allocation of given widths (e.g. a uniform one), scored the same way. */
  evaluate(bits: number[]): Omit<Allocation, 'feasible' | 'exact' | 'lowerBound'> {
    return this.describe(bits.map((b, i) => {
      const k = this.layers[i]!.candidates.indexOf(b);
      if (k < 0) throw new Error(`layer ${this.layers[i]!.name}: width ${b} is not a candidate`);
      return k;
    }));
  }

  /** The budget → predicted-loss staircase (optimal allocations), at most `maxPoints` points. */
  frontier(kind: Kind, maxPoints = 200): FrontierPoint[] {
    const t = this.solver(kind);
    return t.frontier(maxPoints).map((s) => {
      const d = this.describe(s.choice.map((j, i) => this.allowed[i]![j]!));
      return { bytes: d.bytes, averageBits: d.averageBits, predicted: d.predicted, bits: d.bits };
    });
  }

  private describe(ks: number[]): Omit<Allocation, 'feasible' | 'exact' | 'lowerBound'> {
    let bytes = 0;
    let codeBits = 0;
    let predicted = 0;
    const bits = ks.map((k, i) => {
      const l = this.layers[i]!;
      bytes += l.bytes[k]!.total;
      codeBits += l.params * l.candidates[k]!;
      predicted += this.scores[i]![k]!;
      return l.candidates[k]!;
    });
    return { bits, bytes, averageBits: this.totalParams ? codeBits / this.totalParams : 0, predicted };
  }
}
