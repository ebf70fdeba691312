/**
 * Where a model's graph can be cut into a chain of parts that run one after another: the prefix
 * (embeddings and everything that makes the side tensors), one part per transformer block, and the
 * suffix (final norm, lm_head). Found from the graph:
 *
 * - Seeds are the inventory's layers (MatMul/Gemm/Conv/Gather with a stored weight), in graph order.
 * - A boundary is a tensor t such that every seed is either upstream or downstream of t and every
 *   path from an upstream seed to a downstream one passes through t: the residual stream between
 *   two blocks (`h_k`), or between attention and MLP inside one.
 * - Boundaries are kept where the block label of the seeds changes (`layers.3` → `layers.4`, from
 *   the names, labels.ts); a graph without labelled names is grouped by its repeating structure
 *   (the shortest period of the segments' op signatures).
 * - Each non-constant node goes to the last part whose boundary it depends on; a part may read only
 *   its own boundary, tensors made by the prefix (attention mask, rotary tables: the side tensors),
 *   graph inputs and constants. Anything else (a skip connection over a block, a shape computed in
 *   one block and read by the next, control flow) makes the graph uncuttable, with the reason.
 *
 * Pure graph analysis: no tensor bytes are read.
 */
import type { NodeProto, TensorProto } from '../../../../language-server/core/model/onnx-proto';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { GraphIndex } from '../../../../language-server/core/model/graph';
import { blockLabel } from './labels';

export interface PartPlan {
  index: number;
  kind: 'prefix' | 'block' | 'suffix';
  /** 'prefix', 'suffix', or the block's label (`layers.3`; `block.3` when the graph has no names). */
  label: string;
  /** The boundary tensor this part reads (undefined for the prefix). */
  carryIn?: string;
  /** The boundary tensor this part makes for the next one (undefined for the suffix). */
  carryOut?: string;
  /** What this part reads from outside other than `carryIn`: side tensors of the prefix and graph inputs. */
  sides: string[];
  /** The computing nodes, in graph order, followed by nothing else: constant nodes are in `constNodes`. */
  nodes: NodeProto[];
  /** Constant-only nodes (Constant, and ops over constants) the nodes need, in graph order. */
  constNodes: NodeProto[];
  /** Initializers the part reads. */
  initializers: TensorProto[];
  /** Inventory layers whose consuming node is in this part, in graph order. */
  layers: LayerInfo[];
  /** Graph outputs this part makes (the suffix; the prefix of a model cut nowhere else). */
  graphOutputs: string[];
  /** Tensors this part must output for later parts (the prefix: carryOut and the side tensors). */
  outputs: string[];
}

export interface BlockPlan {
  parts: PartPlan[];
  /** Number of parts of kind 'block'. */
  blocks: number;
  /** True when block labels came from layer names (false: from the graph's repeating structure). */
  named: boolean;
  /** Every block has an attention (Softmax) node. */
  transformer: boolean;
  /** Graph outputs made inside the chain (e.g. KV-cache outputs of each block) that the chain does not give. */
  droppedOutputs: string[];
}

export type PlanResult = { ok: true; plan: BlockPlan } | { ok: false; reason: string };

class Bits {
  readonly w: Uint32Array;
  constructor(n: number) { this.w = new Uint32Array(Math.ceil(n / 32)); }
  set(i: number): void { this.w[i >>> 5]! |= 1 << (i & 31); }
  has(i: number): boolean { return (this.w[i >>> 5]! & (1 << (i & 31))) !== 0; }
  or(o: Bits): void { for (let k = 0; k < this.w.length; k++) this.w[k]! |= o.w[k]!; }
  count(): number {
    let c = 0;
    for (let v of this.w) { while (v) { v &= v - 1; c++; } }
    return c;
  }
  /** True when exactly the bits 0..n-1 are set. */
  isPrefix(n: number): boolean {
    for (let k = 0; k < this.w.length; k++) {
      const lo = k * 32;
      const want = n >= lo + 32 ? 0xffffffff : n <= lo ? 0 : (2 ** (n - lo) - 1);
      if ((this.w[k]! >>> 0) !== want >>> 0) return false;
    }
    return true;
  }
}

function hasSubgraph(n: NodeProto): boolean {
  return (n.attribute ?? []).some((a) => a.g !== undefined || (a.graphs?.length ?? 0) > 0);
}

interface Seed { node: number; layer: LayerInfo; label?: string }

/** The node consuming each layer's weight, matched by op, activation input and traced weight. */
function findSeeds(nodes: NodeProto[], index: GraphIndex, layers: LayerInfo[]): Seed[] | string {
  const used = new Set<number>();
  const seeds: Seed[] = [];
  for (const l of layers) {
    let found = -1;
    for (let k = 0; k < nodes.length && found < 0; k++) {
      const n = nodes[k]!;
      if (used.has(k) || n.opType !== l.op) continue;
      const [a, b] = l.op === 'Gather' ? [n.input?.[1], n.input?.[0]] : [n.input?.[0], n.input?.[1]];
      if (a !== l.inputName || !b) continue;
      if (index.traceWeight(b)?.name === l.tensorName) found = k;
    }
    if (found < 0) return `layer '${l.name}': its node was not found in the graph`;
    used.add(found);
    seeds.push({ node: found, layer: l, label: blockLabel(l.name) });
  }
  return seeds.sort((x, y) => x.node - y.node);
}

/** Group consecutive segments by the shortest period of their op signatures (unnamed graphs). */
function periodicGroups(sigs: string[]): { start: number; period: number; reps: number } | undefined {
  let best: { start: number; period: number; reps: number } | undefined;
  for (let period = 1; period <= 4; period++) {
    for (let start = 0; start <= Math.min(2, sigs.length - 2 * period); start++) {
      let reps = 1;
      while (start + (reps + 1) * period <= sigs.length) {
        let same = true;
        for (let k = 0; k < period && same; k++) same = sigs[start + reps * period + k] === sigs[start + k];
        if (!same) break;
        reps++;
      }
      if (reps >= 2 && (!best || reps * period > best.reps * best.period)) best = { start, period, reps };
    }
  }
  return best;
}

/** Plans the chain of parts, or says why the graph cannot be cut. */
export function planBlocks(model: OnnxModel, layers: LayerInfo[]): PlanResult {
  const graph = model.proto.graph ?? {};
  const nodes = graph.node ?? [];
  const fail = (reason: string): PlanResult => ({ ok: false, reason });
  const flow = nodes.find(hasSubgraph);
  if (flow) return fail(`control flow (${flow.opType} '${flow.name ?? ''}' has a subgraph)`);
  const index = new GraphIndex(graph);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? '').filter((n) => !inits.has(n)));

  // Constant tensors: initializers and outputs of nodes whose inputs are all constant.
  const constant = new Set<string>(inits.keys());
  const producer = new Map<string, number>();
  const constNode: boolean[] = [];
  nodes.forEach((n, k) => {
    const isConst = (n.input ?? []).every((i) => !i || constant.has(i));
    constNode.push(isConst);
    for (const o of n.output ?? []) {
      if (!o) continue;
      producer.set(o, k);
      if (isConst) constant.add(o);
    }
  });

  const seedsOr = findSeeds(nodes, index, layers);
  if (typeof seedsOr === 'string') return fail(seedsOr);
  const seeds = seedsOr;
  const S = seeds.length;
  if (S < 2) return fail('fewer than two layers');
  const seedAt = new Map(seeds.map((s, i) => [s.node, i]));

  // Seeds upstream (anc) and downstream (desc) of every non-constant tensor.
  const anc = new Map<string, Bits>();
  for (const name of graphInputs) anc.set(name, new Bits(S));
  nodes.forEach((n, k) => {
    if (constNode[k]) return;
    const a = new Bits(S);
    for (const i of n.input ?? []) { const x = i ? anc.get(i) : undefined; if (x) a.or(x); }
    const s = seedAt.get(k);
    if (s !== undefined) a.set(s);
    for (const o of n.output ?? []) if (o) anc.set(o, a);
  });
  const desc = new Map<string, Bits>();
  for (let k = nodes.length - 1; k >= 0; k--) {
    if (constNode[k]) continue;
    const n = nodes[k]!;
    const d = new Bits(S);
    for (const o of n.output ?? []) { const x = o ? desc.get(o) : undefined; if (x) d.or(x); }
    const s = seedAt.get(k);
    if (s !== undefined) d.set(s);
    for (const i of n.input ?? []) {
      if (!i || constant.has(i)) continue;
      const x = desc.get(i);
      if (x) x.or(d); else { const c = new Bits(S); c.or(d); desc.set(i, c); }
    }
  }

  // Consumers by node index, for the separation test.
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, k) => {
    if (constNode[k]) return;
    for (const i of n.input ?? []) if (i && !constant.has(i)) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(k);
  });
  /** Every path from the first `i` seeds to the others passes through `t`. */
  const separates = (t: string, i: number): boolean => {
    const seen = new Uint8Array(nodes.length);
    const stack: number[] = [];
    for (let s = 0; s < i; s++) stack.push(seeds[s]!.node);
    while (stack.length) {
      const k = stack.pop()!;
      if (seen[k]) continue;
      seen[k] = 1;
      const j = seedAt.get(k);
      if (j !== undefined && j >= i) return false;
      for (const o of nodes[k]!.output ?? []) {
        if (!o || o === t) continue;
        for (const c of consumers.get(o) ?? []) if (!seen[c]) stack.push(c);
      }
    }
    return true;
  };
  // cutAt[i]: the earliest tensor separating the first i seeds from the rest.
  const cutAt = new Map<number, string>();
  const candidates: { t: string; i: number; at: number }[] = [];
  for (const [t, a] of anc) {
    if (graphInputs.has(t)) continue;
    const d = desc.get(t);
    const na = a.count();
    if (!d || na === 0 || na === S || na + d.count() !== S || !a.isPrefix(na)) continue;
    candidates.push({ t, i: na, at: producer.get(t) ?? -1 });
  }
  candidates.sort((x, y) => x.at - y.at);
  for (const c of candidates) if (!cutAt.has(c.i) && separates(c.t, c.i)) cutAt.set(c.i, c.t);
  if (!cutAt.size) return fail('no tensor separates its layers into a chain (no block structure)');

  // Segments between consecutive cuts, then blocks: by label, else by repeating structure.
  const bounds = [...cutAt.keys()].sort((a, b) => a - b);
  const segs: { from: number; to: number }[] = [];
  let prev = 0;
  for (const b of [...bounds, S]) { segs.push({ from: prev, to: b }); prev = b; }
  const labelOf = (sg: { from: number; to: number }): string | undefined => {
    const ls = new Set(seeds.slice(sg.from, sg.to).map((s) => s.label));
    return ls.size === 1 ? [...ls][0] : undefined;
  };
  const named = seeds.some((s) => s.label !== undefined);
  type Group = { from: number; to: number; label?: string; block: boolean };
  let groups: Group[] = [];
  if (named) {
    for (const sg of segs) {
      const label = labelOf(sg);
      const last = groups[groups.length - 1];
      if (last && label !== undefined && last.label === label) last.to = sg.to;
      else groups.push({ ...sg, label, block: label !== undefined });
    }
  } else {
    const sigOf = (sg: { from: number; to: number }): string => seeds.slice(sg.from, sg.to).map((s) => `${s.layer.op}:${s.layer.rows}x${s.layer.cols}`).join(',');
    const p = periodicGroups(segs.map(sigOf));
    for (let k = 0; k < segs.length;) {
      if (p && k >= p.start && k < p.start + p.reps * p.period) {
        const n = (k - p.start) / p.period;
        groups.push({ from: segs[k]!.from, to: segs[k + p.period - 1]!.to, label: `block.${n}`, block: true });
        k += p.period;
      } else {
        groups.push({ ...segs[k]!, block: false });
        k++;
      }
    }
  }
  // Unlabelled groups before the first block join the prefix, after the last block the suffix.
  const firstBlock = groups.findIndex((g) => g.block);
  const lastBlock = groups.length - 1 - [...groups].reverse().findIndex((g) => g.block);
  if (firstBlock < 0) return fail('no transformer blocks found (no `layers.N` names and no repeating structure)');
  groups = [
    ...(firstBlock > 0 ? [{ from: 0, to: groups[firstBlock - 1]!.to, block: false }] : []),
    ...groups.slice(firstBlock, lastBlock + 1),
    ...(lastBlock < groups.length - 1 ? [{ from: groups[lastBlock + 1]!.from, to: S, block: false }] : []),
  ];
  const cuts = groups.slice(1).map((g) => cutAt.get(g.from)!);

  // Part of every non-constant node: the last boundary it depends on.
  const level = new Map<string, number>();
  const cutIndex = new Map(cuts.map((c, j) => [c, j + 1]));
  const partOf = new Int32Array(nodes.length).fill(-1);
  nodes.forEach((n, k) => {
    if (constNode[k]) return;
    let p = 0;
    for (const i of n.input ?? []) { const l = i ? level.get(i) : undefined; if (l !== undefined && l > p) p = l; }
    partOf[k] = p;
    for (const o of n.output ?? []) if (o) level.set(o, cutIndex.get(o) ?? p);
  });
  const P = cuts.length + 1;
  const graphOutputs = (graph.output ?? []).map((v) => v.name ?? '');
  const outputsOfPart = (j: number): string[] => graphOutputs.filter((o) => { const k = producer.get(o); return k !== undefined && partOf[k] === j; });
  const lastOutputs = outputsOfPart(P - 1);
  if (!lastOutputs.length) return fail('no graph output comes after the last block');

  // Side tensors: read by a part from another part; only the prefix's tensors and graph inputs may be.
  const sidesOf: string[][] = Array.from({ length: P }, () => []);
  const need: Set<string>[] = Array.from({ length: P }, () => new Set<string>());
  const prefixSides = new Set<string>();
  for (let j = 0; j < P; j++) {
    if (j < P - 1) need[j]!.add(cuts[j]!);
    if (j === P - 1) for (const o of lastOutputs) need[j]!.add(o);
    for (const s of seeds) if (partOf[s.node] === j) need[j]!.add(nodes[s.node]!.input?.[s.layer.op === 'Gather' ? 1 : 0] ?? '');
  }
  // Nodes each part needs (backwards from what it must make), and what they read from outside.
  const picked: number[][] = Array.from({ length: P }, () => []);
  for (let j = P - 1; j >= 0; j--) {
    const want = new Set(need[j]);
    const take = new Uint8Array(nodes.length);
    for (let k = nodes.length - 1; k >= 0; k--) {
      if (partOf[k] !== j) continue;
      const n = nodes[k]!;
      if (!(n.output ?? []).some((o) => o && want.has(o)) && seedAt.get(k) === undefined) continue;
      take[k] = 1;
      for (const i of n.input ?? []) if (i && !constant.has(i)) want.add(i);
    }
    for (let k = 0; k < nodes.length; k++) if (take[k]) picked[j]!.push(k);
    for (const t of want) {
      const k = producer.get(t);
      const from = k === undefined ? -1 : partOf[k]!;
      if (from === j || constant.has(t)) continue;
      if (j > 0 && t === cuts[j - 1]) continue;
      if (from > 0 || (from === -1 && !graphInputs.has(t))) {
        if (from === -1) return fail(`tensor '${t}' read by part ${j} has no producer`);
        return fail(`tensor '${t}' made in ${from === j - 1 ? 'the previous block' : `part ${from}`} is read by part ${j} besides the boundary '${cuts[j - 1]}'`);
      }
      if (j > 0) {
        sidesOf[j]!.push(t);
        if (from === 0) { need[0]!.add(t); prefixSides.add(t); }
      } else if (graphInputs.has(t)) sidesOf[0]!.push(t);
    }
  }

  const constNodesFor = (ks: number[]): { constNodes: NodeProto[]; initializers: TensorProto[] } => {
    const want = new Set<number>();
    const initNames = new Set<string>();
    const visit = (t: string): void => {
      if (inits.has(t)) { initNames.add(t); return; }
      const k = producer.get(t);
      if (k === undefined || !constNode[k] || want.has(k)) return;
      want.add(k);
      for (const i of nodes[k]!.input ?? []) if (i) visit(i);
    };
    for (const k of ks) for (const i of nodes[k]!.input ?? []) if (i && constant.has(i)) visit(i);
    return { constNodes: [...want].sort((a, b) => a - b).map((k) => nodes[k]!), initializers: [...initNames].map((n) => inits.get(n)!) };
  };

  const parts: PartPlan[] = [];
  for (let j = 0; j < P; j++) {
    const g = groups[j]!;
    const kind: PartPlan['kind'] = j === 0 && !g.block ? 'prefix' : j === P - 1 && !g.block ? 'suffix' : 'block';
    const ks = picked[j]!;
    const inPart = new Set(ks);
    const partLayers = seeds.filter((s) => inPart.has(s.node)).map((s) => s.layer);
    const outs = j === P - 1 ? lastOutputs : [cuts[j]!, ...(j === 0 ? prefixSides : [])];
    parts.push({
      index: j, kind, label: g.label ?? (kind === 'block' ? `part.${j}` : kind),
      ...(j > 0 ? { carryIn: cuts[j - 1]! } : {}),
      ...(j < P - 1 ? { carryOut: cuts[j]! } : {}),
      sides: [...new Set(sidesOf[j]!)],
      nodes: ks.map((k) => nodes[k]!),
      ...constNodesFor(ks),
      layers: partLayers,
      graphOutputs: j === P - 1 ? lastOutputs : [],
      outputs: [...new Set(outs)],
    });
  }
  const dropped = graphOutputs.filter((o) => !lastOutputs.includes(o));
  const blocks = parts.filter((p) => p.kind === 'block');
  const transformer = blocks.length > 0 && blocks.every((p) => p.nodes.some((n) => n.opType === 'Softmax'));
  return { ok: true, plan: { parts, blocks: blocks.length, named, transformer, droppedOutputs: dropped } };
}
