/**
 * The model-aware part of checking a stage, memoised so that an edit re-computes only what changed.
 *
 * Which layers a stage selects, its per-layer parameters, its divisibility problems, its budget
 * check and its size estimate depend only on the layer inventory and on the text of the stage's
 * patterns and parameters, not on where the stage sits in the file. They are computed here without
 * any source location and memoised per inventory object (the language server's `InventoryCache`
 * hands out one object per model version) under a key built from that text, so re-analysing a
 * document after an edit finds every unchanged stage in the memo. `analyze.ts` turns the results
 * into located diagnostics, patterns and estimates on every run, so a memoised analysis is equal to
 * a fresh one.
 *
 * Everything handed out here (arrays, per-layer records, parameter objects) is shared by every
 * analysis that hits the memo: read it, never mutate it.
 */
import { maxOf, minOf } from '../util/arrays';
import type { LayerInfo, ModelInventory } from '../model/types';
import type { AllocateParams, PruneParams, QuantParams } from './resolved';
import { compilePattern, isCompiled, isDefaultTarget, layerIndex, type CompiledPattern, type LayerIndex } from './patterns';
import { didYouMean } from './diagnostics';
import { formatBytes } from '../util/format';
import { blockedQdq, offeredWidths, planLayer, type Encoding, type ExportFormat, type QuantLayout } from '../cost/formats';
import { layerCost, outlierFractionAt, storesRotations } from '../cost/cost';
import { rotationTensors } from '../cost/rotations';
import { graphBytes } from '../cost/graph';

/** The layers a stage's `targets` and `ignore` select. */
export interface StageSelection {
  /** The memo key of this selection (target and ignore texts). */
  key: string;
  /** Layers matched by each `targets` pattern that compiles, in the order written. */
  targetHits: LayerInfo[][];
  /** For each `ignore` pattern that compiles: the targeted layers it removes and every layer it matches. */
  ignoreHits: { hit: LayerInfo[]; all: LayerInfo[] }[];
  targeted: LayerInfo[];
  selected: LayerInfo[];
  /** Names of `selected`. */
  names: string[];
  selectedSet: Set<LayerInfo>;
  /** Override pattern text → the selected layers it matches. */
  overrides: Bounded<string, LayerInfo[]>;
}

/**
 * A group size (or N:M width) that does not divide the input dimension of some selected layers.
 * `source` says which value set it: -1 the stage (or its preset, or the default), i ≥ 0 override i.
 */
export interface Divisibility {
  source: number;
  width: number;
  /** How many layers it does not divide, and their names grouped by input dimension. */
  count: number;
  names: string;
  /** For group sizes: the divisor of every layer of this source nearest to `width`, if any. */
  alt?: number;
}

/**
 * A width that the export stores in a wider container (QR210): `bits` set by `source` (−1 the stage
 * or its preset or the default, i ≥ 0 override i) takes `stored`-bit slots in `count` layers.
 */
export interface WidthProblem { source: number; bits: number; stored: number; encoding: Encoding; count: number; names: string }

/**
 * Candidate widths of an allocate stage the export stores in a wider slot: replaced by that slot's
 * width in what the allocator is offered, or, for a width pinned with `bits`, kept and reported.
 */
export interface DroppedWidths { source: number; dropped: number[]; offered: number[]; encoding: Encoding; count: number; pinned: boolean }

/**
 * New bytes of layers (by inventory position) after a stage, as the cost model counts them in the
 * export format: the tensors (`bytes`), the graph records around them (`graph`) and whether the
 * layer is quantised, and whether it stores incoherence rotations (`rotated`: the shared rotation
 * tensors are counted once over all such layers); `id` is unique in the process.
 */
export interface StateChange { id: number; at: Int32Array; bytes: Float64Array; graph: Float64Array; quantized: Uint8Array; rotated: Uint8Array }
let nextChangeId = 1;

/** The model size estimate after a sequence of stages (inlay hints): core/cost's ModelSize. */
export interface SizeEstimate { bytes: number; bitsPerWeight?: number }

interface StageModelBase<P> {
  /** Per override (in order): the selected layers it matches, and their names. */
  overrideHits: LayerInfo[][];
  overrideNames: string[][];
  perLayer: Record<string, P>;
  problems: Divisibility[];
}
export interface QuantizeModel extends StageModelBase<QuantParams> { state: StateChange; widths: WidthProblem[] }
export interface PruneModel extends StageModelBase<PruneParams> { note: string }
export interface AllocateModel extends StageModelBase<{ candidates: number[] }> {
  state: StateChange;
  /** Candidates the export stores in a wider slot, not offered to the allocator. */
  dropped: DroppedWidths[];
  /** Total parameters of the selected layers. */
  params: number;
  /** The budget is infeasible (QR206) or does not constrain anything (QR209). */
  budget?: { code: 'QR206' | 'QR209'; message: string };
}

/** An override as the model needs it: its pattern text and the parameters it sets. */
export interface OverrideSpec<P> { pattern: string; params: P }

/** A Map that forgets its oldest entries beyond `limit` (bounded memory while typing). */
export class Bounded<K, V> {
  private readonly m = new Map<K, V>();
  constructor(private readonly limit: number) {}
  get(k: K): V | undefined { return this.m.get(k); }
  set(k: K, v: V): V {
    if (this.m.size >= this.limit) this.m.delete(this.m.keys().next().value as K);
    this.m.set(k, v);
    return v;
  }
}

/** The memo of one inventory; get it with `modelMemo`. */
export class ModelMemo {
  readonly index: LayerIndex;
  /** Bytes of each layer before any stage, by position. */
  readonly initialBytes: Float64Array;
  /** Tied layers: the first layer of a shared tensor → the others, which are not counted again. */
  private readonly tied = new Map<number, number[]>();
  private readonly follower = new Set<number>();
  private readonly position = new Map<LayerInfo, number>();
  private readonly selections = new Bounded<string, StageSelection>(128);
  private readonly stages = new Bounded<string, QuantizeModel | PruneModel | AllocateModel>(64);
  private readonly near = new Bounded<string, string | undefined>(256);
  private readonly sizes = new Bounded<string, SizeEstimate>(256);

  constructor(readonly inventory: ModelInventory) {
    const layers = inventory.layers;
    this.index = layerIndex(layers);
    layers.forEach((l, i) => this.position.set(l, i));
    this.initialBytes = Float64Array.from(layers, (l) => l.bytes);
    // Tied layers (one stored tensor): the first stands for the group in size estimates.
    const first = new Map<string, number>();
    layers.forEach((l, i) => {
      const f = first.get(l.tensorName);
      if (f === undefined) first.set(l.tensorName, i);
      else this.tied.set(f, [...(this.tied.get(f) ?? []), i]);
    });
    for (const group of this.tied.values()) for (const j of group) this.follower.add(j);
  }

  /** Bytes of layer `l` quantised with `q` in `format`: its tensors and the graph records around them. */
  layerBytes(l: LayerInfo, q: QuantLayout, format: ExportFormat): { bytes: number; graph: number; stored: number; encoding: Encoding; rotated: boolean } {
    const plan = planLayer(l, format, this.inventory, q);
    const cost = layerCost(l, q, plan);
    return { bytes: cost.total, graph: graphBytes(l, plan, q, cost.nnz), stored: plan.storedBits, encoding: plan.encoding, rotated: storesRotations(q, plan) };
  }

  /** The selection of a stage with these `targets` and `ignore` texts (no targets: every MatMul, Gemm, Conv). */
  select(targets: string[], ignore: string[]): StageSelection {
    const key = keyOf([targets, ignore]);
    const hit = this.selections.get(key);
    if (hit) return hit;
    const layers = this.inventory.layers;
    const targetHits = valid(targets).map((c) => this.index.match(c));
    let targeted: LayerInfo[];
    if (!targets.length) targeted = layers.filter(isDefaultTarget);
    else if (targetHits.length === 1) targeted = targetHits[0];
    else { const any = new Set(targetHits.flat()); targeted = layers.filter((l) => any.has(l)); }
    const tset = new Set(targeted);
    const ignored = new Set<LayerInfo>();
    const ignoreHits = valid(ignore).map((c) => {
      const all = this.index.match(c);
      const h = all.filter((l) => tset.has(l));
      for (const l of h) ignored.add(l);
      return { hit: h, all };
    });
    const selected = ignored.size ? targeted.filter((l) => !ignored.has(l)) : targeted;
    return this.selections.set(key, {
      key, targetHits, ignoreHits, targeted, selected, names: selected.map((l) => l.name), selectedSet: new Set(selected), overrides: new Bounded(512),
    });
  }

  /** The selected layers an override pattern matches (none for a pattern that does not compile). */
  overrideHits(sel: StageSelection, pattern: string): LayerInfo[] {
    let h = sel.overrides.get(pattern);
    if (!h) {
      const c = compilePattern(pattern);
      h = sel.overrides.set(pattern, isCompiled(c) ? this.index.match(c).filter((l) => sel.selectedSet.has(l)) : []);
    }
    return h;
  }

  /** The layer name nearest to an exact-name pattern that matched nothing (did you mean). */
  nearName(p: string): string | undefined {
    if (/[*?]/.test(p) || p.startsWith('re:')) return undefined;
    const k = this.near.get(p);
    if (k !== undefined) return k || undefined;
    const n = didYouMean(p, this.inventory.layers.map((l) => l.name));
    this.near.set(p, n ?? '');
    return n;
  }

  /**
   * A quantize stage over `sel` with stage parameters `params` and `overrides`; `overridesKey` must
   * be `keyOf(overrides)` (callers that keep override lists unchanged between analyses cache it).
   */
  quantize(sel: StageSelection, params: QuantParams, overrides: OverrideSpec<Partial<QuantParams>>[], format: ExportFormat, overridesKey = keyOf(overrides)): QuantizeModel {
    return this.memo(`q${format}${sel.key}${keyOf(params)}${overridesKey}`, () => {
      const { overrideHits, overrideNames, perLayer, layerParams, sources: [source, bitsSource] } = this.layerParams(sel, params, overrides, ['group', 'bits']);
      const problems = divisibility(sel.selected, (k) => layerParams[k].group, source, true);
      const costs = sel.selected.map((l, k) => this.layerBytes(l, layerParams[k], format));
      const state = this.change(sel.selected, (_l, k) => costs[k]);
      const widths = widthProblems(sel.selected, (k) => layerParams[k].bits, (k) => costs[k], bitsSource);
      return { overrideHits, overrideNames, perLayer, problems, state, widths };
    });
  }

  /**
   * Each selected layer's parameters: the stage's, with every matching override merged in order,
   * then `finish`; `sources[j][k]` is the last override that set `sourceKeys[j]` for layer k (−1:
   * none), so a problem can point at the override line that caused it.
   */
  private layerParams<P extends object>(sel: StageSelection, params: P, overrides: OverrideSpec<Partial<P>>[], sourceKeys: (keyof P)[], finish: (p: P) => P = (p) => p) {
    const { hits, overrideHits, overrideNames } = this.matchOverrides(sel, overrides);
    const perLayer: Record<string, P> = {};
    const layerParams: P[] = [];
    const sources = sourceKeys.map(() => new Int32Array(sel.selected.length).fill(-1));
    sel.selected.forEach((l, k) => {
      let p = params;
      for (const i of hits.get(l) ?? []) {
        p = { ...p, ...overrides[i].params };
        sourceKeys.forEach((key, j) => { if (key in overrides[i].params) sources[j]![k] = i; });
      }
      p = finish(p);
      perLayer[l.name] = p;
      layerParams.push(p);
    });
    return { overrideHits, overrideNames, perLayer, layerParams, sources };
  }

  /** A prune stage; as `quantize`. */
  prune(sel: StageSelection, params: PruneParams, overrides: OverrideSpec<Partial<PruneParams>>[], overridesKey = keyOf(overrides)): PruneModel {
    return this.memo(`p${sel.key}${keyOf(params)}${overridesKey}`, () => {
      const { overrideHits, overrideNames, perLayer, layerParams, sources: [source] } = this.layerParams(sel, params, overrides, ['pattern'],
        (p) => (typeof p.pattern === 'object' ? { ...p, sparsity: p.pattern.n / p.pattern.m } : p));
      const problems = divisibility(sel.selected, (k) => { const pt = layerParams[k].pattern; return typeof pt === 'object' ? pt.m : 'channel'; }, source!, false);
      const avg = sel.selected.reduce((a, l) => a + perLayer[l.name].sparsity * l.params, 0) / Math.max(1, sel.selected.reduce((a, l) => a + l.params, 0));
      return { overrideHits, overrideNames, perLayer, problems, note: `${(avg * 100).toFixed(0)}% zeros in ${sel.selected.length} layers` };
    }) as PruneModel;
  }

  /**
   * An allocate stage; as `quantize`. Each layer is offered the candidates its export encoding
   * stores without a wider slot (offeredWidths); the others are reported (`dropped`).
   */
  allocate(
    sel: StageSelection,
    params: AllocateParams,
    overrides: OverrideSpec<{ bits?: number; candidates?: number[] }>[],
    format: ExportFormat,
    overridesKey = keyOf(overrides),
  ): AllocateModel {
    return this.memo(`a${format}${sel.key}${keyOf(params)}${overridesKey}`, () => {
      const { hits, overrideHits, overrideNames } = this.matchOverrides(sel, overrides);
      const sel2 = sel.selected;
      const int4 = blockedQdq(this.inventory).ok;
      const layout = (bits: number): QuantLayout => ({ bits, group: params.group, symmetric: params.symmetric, outliers: outlierFractionAt(bits, params.outliers) });
      const perLayer: Record<string, { candidates: number[] }> = {};
      const offered: number[][] = [];
      const dropped = new Map<string, DroppedWidths>();
      for (const l of sel2) {
        let c = params.candidates;
        let source = -1;
        let pinned = false;
        for (const i of hits.get(l) ?? []) {
          const o = overrides[i];
          if (o.params.candidates) { c = o.params.candidates; source = i; pinned = false; }
          if (o.params.bits) { c = [o.params.bits]; source = i; pinned = true; }
        }
        const encoding = this.layerBytes(l, layout(maxOf(c)), format).encoding;
        // a pin is what was asked for (reported when stored wider); candidates become their slots' widths
        const ok = pinned ? c : offeredWidths(c, encoding, int4);
        perLayer[l.name] = { candidates: ok };
        offered.push(ok);
        const gone = c.filter((b) => !offeredWidths([b], encoding, int4).includes(b));
        if (gone.length) {
          const key = `${source}:${encoding}:${gone.join(',')}`;
          const d = dropped.get(key);
          if (d) d.count++;
          else dropped.set(key, { source, dropped: gone, offered: pinned ? offeredWidths(c, encoding, int4) : ok, encoding, count: 1, pinned });
        }
      }
      const problems = divisibility(sel2, () => params.group, new Int32Array(sel2.length).fill(-1), true);
      const lo = (k: number): number => offered[k]![0]!;
      const hi = (k: number): number => offered[k]![offered[k]!.length - 1]!;
      const bytesAt = (l: LayerInfo, bits: number): number => this.layerBytes(l, layout(bits), format).bytes;
      // estimate: the budget filled. The allocator spends it whole (an exact knapsack), and a layer's
      // bytes are its fixed scales plus codes linear in its width, so the filled budget's size does
      // not depend on which layers get which width: each layer is priced at the same fraction of the
      // way from its smallest to its largest offered width (in code bits for a bits budget, in bytes
      // for a bytes budget). Rounding each layer to the nearest offered width instead priced a
      // 3-bit budget over 2/4-bit slots as all 2-bit.
      const P = sel2.reduce((a, l) => a + l.params, 0);
      const minB = sel2.reduce((a, l, k) => a + bytesAt(l, lo(k)), 0);
      const maxB = sel2.reduce((a, l, k) => a + bytesAt(l, hi(k)), 0);
      const loBits = sel2.reduce((a, l, k) => a + lo(k) * l.params, 0);
      const hiBits = sel2.reduce((a, l, k) => a + hi(k) * l.params, 0);
      const filled = params.budget.kind === 'bytes'
        ? (maxB > minB ? (params.budget.bytes - minB) / (maxB - minB) : 1)
        : (hiBits > loBits ? (params.budget.bits * P - loBits) / (hiBits - loBits) : 1);
      const frac = Math.max(0, Math.min(1, filled));
      const state = this.change(sel2, (l, k) => {
        const a = this.layerBytes(l, layout(lo(k)), format);
        const b = this.layerBytes(l, layout(hi(k)), format);
        return frac >= 1 ? b : frac <= 0 ? a : { ...a, bytes: a.bytes + frac * (b.bytes - a.bytes), graph: a.graph + frac * (b.graph - a.graph) };
      });
      return {
        overrideHits, overrideNames, perLayer, problems, state, dropped: [...dropped.values()], params: P,
        budget: sel2.length ? budgetProblem(params, sel2, lo, hi, minB, maxB) : undefined,
      };
    }) as AllocateModel;
  }

  private memo<T extends QuantizeModel | PruneModel | AllocateModel>(key: string, compute: () => T): T {
    return (this.stages.get(key) ?? this.stages.set(key, compute())) as T;
  }

  private matchOverrides(sel: StageSelection, overrides: OverrideSpec<unknown>[]): { hits: Map<LayerInfo, number[]>; overrideHits: LayerInfo[][]; overrideNames: string[][] } {
    const overrideHits = overrides.map((o) => this.overrideHits(sel, o.pattern));
    const hits = new Map<LayerInfo, number[]>();
    overrideHits.forEach((ls, i) => { for (const l of ls) { const a = hits.get(l); if (a) a.push(i); else hits.set(l, [i]); } });
    return { hits, overrideHits, overrideNames: overrideHits.map((ls) => ls.map((l) => l.name)) };
  }

  private change(layers: LayerInfo[], cost: (l: LayerInfo, k: number) => { bytes: number; graph: number; encoding: Encoding; rotated: boolean }): StateChange {
    const n = layers.length;
    const c: StateChange = {
      id: nextChangeId++, at: new Int32Array(n), bytes: new Float64Array(n), graph: new Float64Array(n), quantized: new Uint8Array(n), rotated: new Uint8Array(n),
    };
    layers.forEach((l, k) => {
      const x = cost(l, k);
      c.at[k] = this.position.get(l)!;
      c.bytes[k] = x.bytes;
      c.graph[k] = x.graph;
      c.quantized[k] = 1;
      c.rotated[k] = x.rotated ? 1 : 0;
    });
    return c;
  }

  /**
   * The size estimate after the stages whose state changes are `changes` (in order, `chain` their
   * ids joined): memoised, so unchanged leading stages cost nothing; `pending` are the changes not
   * yet written into `state`, which is brought up to date only when the estimate must be computed.
   */
  size(chain: string, pending: StateChange[], state: SizeState): SizeEstimate {
    const hit = this.sizes.get(chain);
    if (hit) return hit;
    for (const c of pending.splice(0)) {
      for (let k = 0; k < c.at.length; k++) {
        const i = c.at[k];
        state.bytes[i] = c.bytes[k]; state.graph[i] = c.graph[k]; state.quantized[i] = c.quantized[k]; state.rotated[i] = c.rotated[k];
      }
    }
    // core/cost's modelSize, over typed arrays (this runs on keystrokes)
    const layers = this.inventory.layers;
    let bytes = this.inventory.fileBytes, qBytes = 0, qParams = 0;
    const rotated: LayerInfo[] = [];
    for (let i = 0; i < layers.length; i++) {
      if (this.follower.has(i)) continue;
      // One tensor, one form: compressed when any of its tied layers was compressed.
      let k = i;
      for (const j of this.tied.get(i) ?? []) if (state.bytes[j] < state.bytes[k]) k = j;
      bytes += state.bytes[k] - layers[i].bytes + state.graph[k];
      if (state.quantized[k]) { qBytes += state.bytes[k]; qParams += layers[i].params; }
      if (state.rotated[k]) rotated.push(layers[i]);
    }
    // the shared rotation sign vectors and factors, once for all rotated layers (core/cost/rotations)
    const rot = rotated.length ? rotationTensors(rotated).bytes : 0;
    bytes += rot;
    qBytes += rot;
    return this.sizes.set(chain, { bytes, ...(qParams ? { bitsPerWeight: (8 * qBytes) / qParams } : {}) });
  }

  /** The state of every layer before any stage (the size chain's start). */
  initialState(): SizeState {
    const n = this.inventory.layers.length;
    return { bytes: this.initialBytes.slice(), graph: new Float64Array(n), quantized: new Uint8Array(n), rotated: new Uint8Array(n) };
  }
}

/** Every layer's bytes, graph bytes, whether it is quantised and whether it stores rotations, by inventory position. */
export interface SizeState { bytes: Float64Array; graph: Float64Array; quantized: Uint8Array; rotated: Uint8Array }

/** Widths the export stores in a wider slot, grouped by the value that set them (QR210). */
function widthProblems(sel: LayerInfo[], bitsOf: (k: number) => number, costOf: (k: number) => { stored: number; encoding: Encoding }, source: Int32Array): WidthProblem[] {
  const groups = new Map<string, { p: WidthProblem; names: string[] }>();
  sel.forEach((l, k) => {
    const bits = bitsOf(k);
    const { stored, encoding } = costOf(k);
    if (encoding === 'float' || stored === bits) return;
    const key = `${source[k]}:${bits}:${stored}:${encoding}`;
    const g = groups.get(key);
    if (g) { g.p.count++; if (g.names.length < 3) g.names.push(l.name); }
    else groups.set(key, { p: { source: source[k], bits, stored, encoding, count: 1, names: '' }, names: [l.name] });
  });
  return [...groups.values()].map(({ p, names }) => ({ ...p, names: names.join(', ') + (p.count > names.length ? ` and ${p.count - names.length} more` : '') }));
}

const memos = new WeakMap<ModelInventory, ModelMemo>();
/** The memo of an inventory (created on first use, dropped with the inventory). */
export function modelMemo(inventory: ModelInventory): ModelMemo {
  let m = memos.get(inventory);
  if (!m) { m = new ModelMemo(inventory); memos.set(inventory, m); }
  return m;
}

function valid(texts: string[]): CompiledPattern[] {
  return texts.flatMap((t) => { const c = compilePattern(t); return isCompiled(c) ? [c] : []; });
}

/** Group sizes / N:M widths that must divide each layer's input dimension (cols), per source value. */
function divisibility(sel: LayerInfo[], width: (k: number) => number | 'channel', source: Int32Array, group: boolean): Divisibility[] {
  const bySource = new Map<number, number[]>(); // source → positions in `sel`
  sel.forEach((_, k) => { const v = source[k]; const a = bySource.get(v); if (a) a.push(k); else bySource.set(v, [k]); });
  const out: Divisibility[] = [];
  for (const [src, ks] of bySource) {
    const badK = ks.filter((k) => { const w = width(k); return w !== 'channel' && sel[k].cols % w !== 0; });
    if (!badK.length) continue;
    const w = width(badK[0]) as number;
    const ls = ks.map((k) => sel[k]);
    const bad = badK.map((k) => sel[k]);
    const byCols = new Map<number, LayerInfo[]>();
    for (const l of bad) { const a = byCols.get(l.cols); if (a) a.push(l); else byCols.set(l.cols, [l]); }
    const names = [...byCols].map(([c, ls2]) => ls2.length === 1 ? `${ls2[0].name} (cols ${c})`
      : `${ls2.slice(0, 3).map((l) => l.name).join(', ')}${ls2.length > 3 ? ` and ${ls2.length - 3} more` : ''} (cols ${c})`).join('; ');
    out.push({ source: src, width: w, count: bad.length, names, alt: group ? nearestDivisor(ls.reduce((a, l) => gcd(a, l.cols), 0), w) : undefined });
  }
  return out;
}

function budgetProblem(p: AllocateParams, sel: LayerInfo[], lo: (k: number) => number, hi: (k: number) => number, minB: number, maxB: number): AllocateModel['budget'] {
  if (p.budget.kind === 'bits') {
    const minBits = minOf(sel.map((_, k) => lo(k)));
    const P = sel.reduce((a, l) => a + l.params, 0);
    const minAvg = sel.reduce((a, l, k) => a + lo(k) * l.params, 0) / P;
    const maxAvg = sel.reduce((a, l, k) => a + hi(k) * l.params, 0) / P;
    if (p.budget.bits < minAvg - 1e-9) return { code: 'QR206', message: `A budget of ${p.budget.bits} bits is below the smallest feasible average, ${minAvg.toFixed(3)} bits (every layer at its smallest candidate${minBits < minAvg ? ', pinned layers included' : ''}). Raise the budget or add a smaller candidate.` };
    if (p.budget.bits > maxAvg + 1e-9) return { code: 'QR209', message: `A budget of ${p.budget.bits} bits exceeds ${maxAvg.toFixed(2)} bits (every layer at its largest candidate): the budget does not constrain anything.` };
    return undefined;
  }
  if (p.budget.bytes < minB) return { code: 'QR206', message: `A budget of ${formatBytes(p.budget.bytes)} is below the smallest feasible size ${formatBytes(minB)} (${sel.length} layers at their smallest candidate width, with scales${p.symmetric ? '' : ', zero points'}${p.outliers ? ' and outliers' : ''}). Raise it to at least ${formatBytes(Math.ceil(minB))}.` };
  if (p.budget.bytes > maxB) return { code: 'QR209', message: `A budget of ${formatBytes(p.budget.bytes)} exceeds ${formatBytes(maxB)} (every layer at its largest candidate): it does not constrain anything.` };
  return undefined;
}

function gcd(a: number, b: number): number { while (b) [a, b] = [b, a % b]; return a; }

/** The divisor of `g` (≥ 16, powers of two first) nearest to `want`; undefined when none. */
export function nearestDivisor(g: number, want: number): number | undefined {
  const divs: number[] = [];
  for (let d = 16; d <= g; d++) if (g % d === 0) divs.push(d);
  const pow2 = divs.filter((d) => (d & (d - 1)) === 0);
  const pool = pow2.length ? pow2 : divs;
  if (!pool.length) return undefined;
  return pool.reduce((best, d) => (Math.abs(d - want) < Math.abs(best - want) || (Math.abs(d - want) === Math.abs(best - want) && d < best) ? d : best));
}

/**
 * An unambiguous text key of a value made of strings, numbers, booleans, undefined, arrays and
 * plain objects (two values get the same key only when they are equal, key order included).
 */
export function keyOf(v: unknown): string {
  // string concatenation rather than map/join: this runs for every stage on every keystroke
  switch (typeof v) {
    case 'string': return JSON.stringify(v);
    case 'number': return Object.is(v, -0) ? 'n-0' : `n${v}`;
    case 'boolean': return v ? 't' : 'f';
    case 'undefined': return 'u';
    case 'object': {
      if (v === null) return 'z';
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + keyOf(v[i]);
        return s + ']';
      }
      let s = '{';
      for (const k in v) if (Object.hasOwn(v, k)) s += (s.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + keyOf((v as Record<string, unknown>)[k]);
      return s + '}';
    }
    default: throw new Error(`keyOf: cannot key a ${typeof v}`);
  }
}
