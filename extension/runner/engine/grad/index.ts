/**
 * Gradients of ONNX models, computed by onnxruntime on a backward graph we write ourselves
 * (reverse-mode differentiation over the ONNX graph, standard ops of the model's opset).
 *
 * - `weightGradients`: ∂L/∂W for chosen weights, averaged over calibration batches (LLM-MQ's
 *   first-order sensitivity); memory is one batch plus one Float32Array per weight.
 * - `inputGradients`: ∂L/∂input for one batch, w.r.t. float inputs or, for token models, the
 *   embedding rows (the output of the Gather reading the token ids) — SPADE's saliency methods.
 * - `buildGradientModel` / `GradientSession`: the lower layers, for callers that run their own loop.
 *
 * An op without a gradient rule never throws: the weights whose path crosses it are listed in
 * `blocked` with the ops, and the caller falls back (Hessian metric, occlusion).
 */
import type * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import { GraphIndex } from '../../../../language-server/core/model/graph';
import { isFloatType } from '../../../../language-server/core/model/dtype';
import { DataType } from '../../../../language-server/core/model/onnx-schema';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import type { UnsupportedOp } from './driver';
import type { LossSpec } from './loss';
import { GradientSession, type Feeds } from './session';
import { inlineProto, selectWeights, type WeightSelection } from './weights';

export type { LossSpec, LossKind } from './loss';
export type { UnsupportedOp } from './driver';
export type { GradientModel, GradientModelOptions } from './gradient-model';
export type { Feeds, GradientStep } from './session';
export type { WeightSelection, SelectedWeight } from './weights';
export { buildGradientModel } from './gradient-model';
export { GradientSession } from './session';
export { selectWeights, inlineProto, weightsAsInputs } from './weights';
export { ruleNames } from './rules/index';

/** A weight that gets no gradient because its path to the loss crosses ops without a rule. */
export interface BlockedWeight {
  tensor: string;
  layer?: string;
  ops: UnsupportedOp[];
}

export interface WeightGradientOptions extends LongRunOptions {
  loss: LossSpec;
  /** Which weights (default: the inventory's layers). */
  weights?: WeightSelection;
  /** Model output the loss reads (default: the first). */
  output?: string;
  /** Also average the squared per-batch gradients (an empirical Fisher diagonal). */
  squares?: boolean;
  /** Total number of batches, for progress reports when `batches` is a generator. */
  total?: number;
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export interface WeightGradient {
  dims: number[];
  /** Mean over batches of the batch-mean loss gradient. */
  values: Float32Array;
  /** Mean over batches of the squared gradient (with `squares`). */
  squares?: Float32Array;
  layer?: string;
}

export interface WeightGradients {
  /** Keyed by stored tensor name. */
  grads: Map<string, WeightGradient>;
  /** Mean loss over the batches. */
  loss: number;
  batches: number;
  blocked: BlockedWeight[];
  /** Every node the backward walk could not pass (op type, node, reason). */
  unsupported: UnsupportedOp[];
  /** Requested weights the loss does not depend on (zero gradient). */
  unused: string[];
  /** Gradient models built (one per distinct batch shape). */
  builds: number;
}

function addInto(acc: Float32Array, src: ArrayLike<number>, sq?: Float32Array): void {
  for (let i = 0; i < acc.length; i++) {
    const v = src[i]!;
    acc[i]! += v;
    if (sq) sq[i]! += v * v;
  }
}

/**
 * ∂L/∂W of the chosen weights, accumulated batch by batch into Float32Arrays and averaged.
 * Each batch is the model's input feeds (plus `labels` for the `label` loss).
 */
export async function weightGradients(model: OnnxModel, batches: Iterable<Feeds> | AsyncIterable<Feeds>, opts: WeightGradientOptions): Promise<WeightGradients> {
  const selected = selectWeights(model, opts.weights ?? 'layers');
  const session = new GradientSession(inlineProto(model), { wrt: selected.map((w) => w.tensor), loss: opts.loss, output: opts.output }, opts.sessionOptions);
  const grads = new Map<string, WeightGradient>();
  let blocked: BlockedWeight[] = [];
  let unsupported: UnsupportedOp[] = [];
  let unused: string[] = [];
  let lossSum = 0;
  let n = 0;
  try {
    for await (const feeds of batches) {
      throwIfAborted(opts.signal, 'gradient computation');
      const step = await session.run(feeds);
      if (n === 0 || session.builds > 1) {
        blocked = [...step.model.blocked].map(([tensor, ops]) => ({ tensor, layer: selected.find((w) => w.tensor === tensor)?.layer, ops }));
        unsupported = step.model.unsupported;
        unused = step.model.unused;
      }
      for (const w of selected) {
        const t = step.grads.get(w.tensor);
        if (!t) continue;
        let g = grads.get(w.tensor);
        if (!g) {
          g = { dims: t.dims.map(Number), values: new Float32Array(t.size), layer: w.layer };
          if (opts.squares) g.squares = new Float32Array(t.size);
          grads.set(w.tensor, g);
        }
        addInto(g.values, t.data as Float32Array, g.squares);
        t.dispose();
      }
      lossSum += step.loss;
      n++;
      opts.onProgress?.({ done: n, total: opts.total ?? n, label: `batch ${n}` });
      await yieldToLoop();
    }
  } finally {
    await session.release();
  }
  if (n > 0) {
    for (const g of grads.values()) {
      for (let i = 0; i < g.values.length; i++) g.values[i]! /= n;
      if (g.squares) for (let i = 0; i < g.squares.length; i++) g.squares[i]! /= n;
    }
  }
  return { grads, loss: n ? lossSum / n : NaN, batches: n, blocked, unsupported, unused, builds: session.builds };
}

export interface InputGradientOptions {
  loss: LossSpec;
  output?: string;
  /** Graph inputs to differentiate (default: every input; integer inputs mean their embeddings). */
  inputs?: string[];
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export interface InputGradient {
  /** The graph input this gradient belongs to. */
  input: string;
  /** `input`: w.r.t. the float input itself; `embedding`: w.r.t. the rows gathered by the ids. */
  kind: 'input' | 'embedding';
  /** The differentiated value (the input, or the Gather output). */
  value: string;
  dims: number[];
  gradient: Float32Array;
  /** The differentiated value's forward values (for gradient × input). */
  values: Float32Array;
}

export interface InputGradients {
  loss: number;
  inputs: InputGradient[];
  /** Requested inputs without a gradient, with the blocking ops (or no embedding found). */
  blocked: { input: string; ops: UnsupportedOp[]; reason?: string }[];
  unsupported: UnsupportedOp[];
}

/** The Gather nodes that read token ids from `input` (through Cast/Identity) out of a float table. */
function embeddingOutputs(model: OnnxModel, input: string): string[] {
  const index = new GraphIndex(model.proto.graph ?? {});
  const reach = new Set([input]);
  const out: string[] = [];
  for (const n of model.proto.graph?.node ?? []) {
    const ins = n.input ?? [];
    if ((n.opType === 'Cast' || n.opType === 'Identity') && reach.has(ins[0] ?? '')) for (const o of n.output ?? []) reach.add(o);
    if (n.opType === 'Gather' && reach.has(ins[1] ?? '')) {
      const w = index.traceWeight(ins[0] ?? '');
      if (w && isFloatType(w.source.tensor.dataType) && n.output?.[0]) out.push(n.output[0]);
    }
  }
  return out;
}

/** A copy: output tensors may be backed by memory of the session, which is released below. */
function toFloat32(t: ort.Tensor): Float32Array {
  return Float32Array.from(t.data as ArrayLike<number>);
}

/** ∂L/∂input (or ∂L/∂embedding rows) for one batch. */
export async function inputGradients(model: OnnxModel, feeds: Feeds, opts: InputGradientOptions): Promise<InputGradients> {
  const graphInputs = (model.proto.graph?.input ?? []).map((i) => ({ name: i.name ?? '', type: i.type?.tensorType?.elemType ?? 0 }));
  const chosen = opts.inputs ?? graphInputs.map((i) => i.name);
  const wrt: { input: string; kind: 'input' | 'embedding'; value: string }[] = [];
  const blocked: InputGradients['blocked'] = [];
  for (const name of chosen) {
    const gi = graphInputs.find((i) => i.name === name);
    if (!gi) throw new Error(`${model.path}: no graph input '${name}'`);
    if (isFloatType(gi.type)) wrt.push({ input: name, kind: 'input', value: name });
    else if (gi.type === DataType.INT64 || gi.type === DataType.INT32) {
      const emb = embeddingOutputs(model, name);
      if (!emb.length) blocked.push({ input: name, ops: [], reason: 'integer input without an embedding lookup (Gather of a float table)' });
      for (const e of emb) wrt.push({ input: name, kind: 'embedding', value: e });
    }
  }
  const extras = wrt.filter((w) => w.kind === 'embedding').map((w) => w.value);
  const session = new GradientSession(inlineProto(model), { wrt: wrt.map((w) => w.value), loss: opts.loss, output: opts.output, extraOutputs: extras }, opts.sessionOptions);
  try {
    const step = await session.run(feeds);
    const inputs: InputGradient[] = [];
    for (const w of wrt) {
      const ops = step.model.blocked.get(w.value);
      if (ops) { blocked.push({ input: w.input, ops }); continue; }
      const g = step.grads.get(w.value);
      const v = w.kind === 'input' ? feeds[w.value] : step.extras.get(w.value);
      if (!g || !v) continue;
      inputs.push({ ...w, dims: g.dims.map(Number), gradient: toFloat32(g), values: toFloat32(v) });
    }
    return { loss: step.loss, inputs, blocked, unsupported: step.model.unsupported };
  } finally {
    await session.release();
  }
}
