/**
 * Index of a graph's tensors: who produces and who consumes each name, which names are constants
 * (initializers or Constant-node outputs), and how a weight reaches its consumer through
 * layout-only ops (Transpose, Reshape, Cast, Identity, DequantizeLinear, ...).
 */
import type { GraphProto, NodeProto, TensorProto } from './onnx-proto';
import { constantValue } from './reader';

/** Where a constant tensor is stored. */
export interface ConstantSource {
  kind: 'initializer' | 'constant';
  tensor: TensorProto;
  /** The Constant node, for kind 'constant'. */
  node?: NodeProto;
}

/** A weight as seen by its consumer: the stored constant and the ops between them, nearest last. */
export interface WeightPath {
  name: string;
  source: ConstantSource;
  via: NodeProto[];
}

/** Ops that only change a weight's layout or storage type; their first input is the data. */
const PASS_THROUGH = new Set(['Transpose', 'Reshape', 'Cast', 'Identity', 'DequantizeLinear', 'Squeeze', 'Unsqueeze', 'Flatten', 'CastLike']);

export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly constants = new Map<string, ConstantSource>();

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer ?? []) if (t.name) this.constants.set(t.name, { kind: 'initializer', tensor: t });
    for (const n of graph.node ?? []) {
      for (const o of n.output ?? []) if (o) this.producer.set(o, n);
      for (const i of n.input ?? []) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) list.push(n); else this.consumers.set(i, [n]);
      }
      if (n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx')) {
        const v = constantValue(n);
        const out = n.output?.[0];
        if (v && out) this.constants.set(out, { kind: 'constant', tensor: v, node: n });
      }
    }
  }

  /**
   * Follows `name` back through layout-only ops to a stored constant; undefined when the value
   * depends on a graph input or a computing op.
   */
  traceWeight(name: string): WeightPath | undefined {
    const via: NodeProto[] = [];
    let cur = name;
    for (let depth = 0; depth < 16; depth++) {
      const c = this.constants.get(cur);
      if (c) return { name: cur, source: c, via: via.reverse() };
      const p = this.producer.get(cur);
      if (!p || !PASS_THROUGH.has(p.opType ?? '') || (p.domain && p.domain !== 'ai.onnx')) return undefined;
      // The other inputs (Reshape's shape, DequantizeLinear's scale) must be constants too.
      const rest = (p.input ?? []).slice(1).filter((x) => x);
      if (!rest.every((x) => this.constants.has(x))) return undefined;
      via.push(p);
      cur = p.input?.[0] ?? '';
    }
    return undefined;
  }

  isConstant(name: string): boolean {
    return this.traceWeight(name) !== undefined;
  }
}

export function attrInt(n: NodeProto, name: string, fallback: number): number {
  const a = n.attribute?.find((x) => x.name === name);
  return a?.i ?? fallback;
}

export function attrInts(n: NodeProto, name: string): number[] | undefined {
  const a = n.attribute?.find((x) => x.name === name);
  return a?.ints;
}
