/**
 * Builds the gradient model: the forward graph, a loss head, and the backward nodes, with the loss
 * and the requested gradients as the graph outputs (everything else pruned), ready for an
 * onnxruntime session.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto, NodeProto, TensorProto } from '../../../../language-server/core/model/onnx-proto';
import { encodeMessage } from '../../../../language-server/core/model/onnx-proto';
import { bytesToFloat32, dtypeCode } from '../../../../language-server/core/model/dtype';
import { constantValue } from '../../../../language-server/core/model/reader';
import { DataType } from '../../../../language-server/core/model/onnx-schema';
import { GraphBuilder, type ValueInfo } from './builder';
import { buildLossHead, type LossHead, type LossSpec } from './loss';
import { differentiate, type UnsupportedOp } from './driver';
import { probeValues, type ProbedValue } from './probe';

export interface GradientModelOptions {
  /** Values to differentiate with respect to: weight tensor names, graph inputs, intermediate values. */
  wrt: string[];
  loss: LossSpec;
  /** Model output the loss reads (default: the first graph output). */
  output?: string;
  /** Forward values to output as well (e.g. the embeddings whose gradient is asked). */
  extraOutputs?: string[];
}

/** A model whose outputs are the loss and the gradients, and what could not be differentiated. */
export interface GradientModel {
  proto: ModelProto;
  /** The encoded model, for `InferenceSession.create`. */
  bytes: Uint8Array;
  /** Output name of the scalar loss. */
  loss: string;
  /** Output name of the gradient of each requested value that has one. */
  gradOutputs: Map<string, string>;
  /** Requested values whose gradient path crosses an op without a rule, with those nodes. */
  blocked: Map<string, UnsupportedOp[]>;
  /** Requested values the loss does not depend on (their gradient is zero). */
  unused: string[];
  /** Every node the walk could not pass. */
  unsupported: UnsupportedOp[];
  /** Extra inputs of the loss head (e.g. `labels`), fed with each batch. */
  lossInputs: LossHead['inputs'];
  /** Probed shape of each requested value. */
  shapes: Map<string, number[]>;
}

export function defaultOpsetOf(proto: ModelProto): number {
  return proto.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0;
}

function allNames(proto: ModelProto): Set<string> {
  const g = proto.graph ?? {};
  const s = new Set<string>();
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (v.name) s.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) s.add(t.name);
  for (const n of g.node ?? []) {
    if (n.name) s.add(n.name);
    for (const o of n.output ?? []) if (o) s.add(o);
  }
  return s;
}

const SMALL_CONST = 4096;

function tensorValues(t: TensorProto): number[] | undefined {
  const n = (t.dims ?? []).reduce((a, d) => a * Number(d), 1);
  if (n > SMALL_CONST || t.dataLocation === 1) return undefined;
  try {
    const code = t.dataType ?? 0;
    if (t.rawData && t.rawData.byteLength) return Array.from(bytesToFloat32(code, t.rawData, n));
    if (code === DataType.INT64) return (t.int64Data ?? []).map(Number);
    if (code === DataType.FLOAT) return t.floatData ?? [];
    if (code === DataType.DOUBLE) return t.doubleData ?? [];
    if (code === DataType.INT32) return t.int32Data ?? [];
  } catch {
    return undefined;
  }
  return undefined;
}

/** Keeps only the nodes that the wanted values depend on. */
function prune(nodes: NodeProto[], wanted: string[]): NodeProto[] {
  const need = new Set(wanted);
  const keep: boolean[] = new Array<boolean>(nodes.length).fill(false);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!(n.output ?? []).some((o) => need.has(o))) continue;
    keep[k] = true;
    for (const i of n.input ?? []) if (i) need.add(i);
  }
  return nodes.filter((_, k) => keep[k]);
}

async function runOutputs(proto: ModelProto, feeds: Record<string, ort.Tensor>, output: string): Promise<ValueInfo> {
  const session = await ort.InferenceSession.create(encodeMessage('ModelProto', proto));
  try {
    const r = await session.run(feeds, [output]);
    const t = r[output]!;
    const info = { dims: t.dims.map(Number), dtype: dtypeCode(t.type) };
    t.dispose();
    return info;
  } finally {
    await session.release();
  }
}

/**
 * Differentiates `proto` for one batch shape. `feeds` is a sample batch (with the loss head's
 * extra inputs, e.g. `labels`, for the `label` loss): the graph is probed on it, and the result
 * is valid for batches of the same input shapes.
 */
export async function buildGradientModel(proto: ModelProto, feeds: Record<string, ort.Tensor>, opts: GradientModelOptions): Promise<GradientModel> {
  const g = proto.graph;
  if (!g) throw new Error('model has no graph');
  const opset = defaultOpsetOf(proto);
  if (opset < 9) throw new Error(`gradients need opset 9 or newer (model has opset ${opset})`);
  const output = opts.output ?? g.output?.[0]?.name;
  if (!output || !(g.output ?? []).some((o) => o.name === output)) throw new Error(`model has no output '${output ?? ''}'`);
  const origNodes = g.node ?? [];
  const producer = origNodes.find((n) => n.output?.includes(output));

  const forwardFeeds = Object.fromEntries(Object.entries(feeds).filter(([k]) => (g.input ?? []).some((i) => i.name === k)));
  const outInfo = await runOutputs(proto, forwardFeeds, output);
  const b = new GraphBuilder(opset, allNames(proto));
  const intInputs = (g.input ?? [])
    .filter((i) => [DataType.INT64, DataType.INT32].includes((i.type?.tensorType?.elemType ?? 0) as 7 | 6))
    .map((i) => i.name ?? '');
  const head = buildLossHead(opts.loss, {
    b, output, outputDims: outInfo.dims, outputDtype: outInfo.dtype, producerOp: producer?.opType, intInputs,
  });
  const headInputs = head.inputs.map((i) => ({
    name: i.name,
    type: { tensorType: { elemType: i.dtype, shape: { dim: i.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  }));
  const withHead: ModelProto = {
    ...proto,
    graph: {
      ...g,
      node: [...origNodes, ...b.nodes],
      initializer: [...(g.initializer ?? []), ...b.initializers],
      input: [...(g.input ?? []), ...headInputs],
      output: [{ name: head.loss }],
    },
  };
  const probed = await probeValues(withHead, feeds);

  const consts = new Map<string, TensorProto>();
  for (const t of [...(g.initializer ?? []), ...b.initializers]) if (t.name) consts.set(t.name, t);
  for (const n of [...origNodes, ...b.nodes]) {
    if (n.opType !== 'Constant') continue;
    const v = constantValue(n);
    if (v && n.output?.[0]) consts.set(n.output[0], v);
  }
  const info = (name: string): ProbedValue | undefined => {
    const p = probed.get(name);
    if (p) return p;
    const t = consts.get(name);
    return t ? { dims: (t.dims ?? []).map(Number), dtype: t.dataType ?? 0 } : undefined;
  };
  const constValues = (name: string): number[] | undefined => {
    const t = consts.get(name);
    return t ? tensorValues(t) : probed.get(name)?.values;
  };

  const d = differentiate({ nodes: [...origNodes, ...b.nodes], loss: head.loss, wrt: opts.wrt, info, constValues, builder: b });

  const gradOutputs = new Map<string, string>();
  const taken = allNames(withHead);
  for (const [w, gname] of d.grads) {
    let out = `${w}.grad`;
    for (let k = 1; taken.has(out); k++) out = `${w}.grad${k}`;
    taken.add(out);
    b.nodes.push({ opType: 'Identity', input: [gname], output: [out], name: b.fresh('grad_out') });
    gradOutputs.set(w, out);
  }
  const outputs = [head.loss, ...gradOutputs.values(), ...(opts.extraOutputs ?? []).filter((o) => o !== head.loss)];
  const nodes = prune([...origNodes, ...b.nodes], outputs);
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const gradProto: ModelProto = {
    ...proto,
    graph: {
      ...g,
      node: nodes,
      initializer: [...(g.initializer ?? []), ...b.initializers.filter((t) => used.has(t.name ?? ''))],
      input: [...(g.input ?? []), ...headInputs],
      output: outputs.map((name) => ({ name })),
      valueInfo: [],
    },
  };
  const shapes = new Map<string, number[]>();
  for (const w of opts.wrt) shapes.set(w, info(w)?.dims ?? []);
  return {
    proto: gradProto,
    bytes: encodeMessage('ModelProto', gradProto),
    loss: head.loss,
    gradOutputs,
    blocked: d.blocked,
    unused: d.unused,
    unsupported: d.unsupported,
    lossInputs: head.inputs,
    shapes,
  };
}
