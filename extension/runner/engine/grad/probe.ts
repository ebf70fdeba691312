/**
 * Observes the shape and element type of every value of a graph by running it once with
 * onnxruntime on a sample batch, every node output exposed as a graph output. The gradient rules
 * read ranks, broadcast axes and static sizes from it; small integer values (shapes, axes, slice
 * bounds computed in the graph) are kept too. A gradient graph built from a probe is valid for
 * inputs of the probed shapes (the runner rebuilds it for new shapes).
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../../../../language-server/core/model/onnx-proto';
import { encodeMessage } from '../../../../language-server/core/model/onnx-proto';
import { dtypeCode } from '../../../../language-server/core/model/dtype';
import type { ValueInfo } from './builder';

/** A probed value: its shape and type, and for small integer tensors the values. */
export interface ProbedValue extends ValueInfo {
  values?: number[];
}

const SMALL = 64;

export async function probeValues(proto: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Map<string, ProbedValue>> {
  const g = proto.graph ?? {};
  const names = new Set<string>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o) names.add(o);
  for (const o of g.output ?? []) if (o.name) names.delete(o.name);
  const probe: ModelProto = {
    ...proto,
    graph: { ...g, output: [...(g.output ?? []), ...[...names].map((name) => ({ name }))] },
  };
  const session = await ort.InferenceSession.create(encodeMessage('ModelProto', probe), { graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run(feeds);
    const result = new Map<string, ProbedValue>();
    for (const [name, t] of Object.entries(out)) {
      const v: ProbedValue = { dims: t.dims.map(Number), dtype: dtypeCode(t.type) };
      if ((t.type === 'int64' || t.type === 'int32') && t.size <= SMALL) v.values = Array.from(t.data as ArrayLike<number | bigint>, Number);
      result.set(name, v);
      t.dispose();
    }
    for (const [name, t] of Object.entries(feeds)) result.set(name, { dims: t.dims.map(Number), dtype: dtypeCode(t.type) });
    return result;
  } finally {
    await session.release();
  }
}
