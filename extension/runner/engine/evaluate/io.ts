/**
 * What a model takes and gives, read from onnxruntime's metadata: the task (causal LM, image
 * classifier, CTC text recogniser), the main input and output, and feeds for each kind of batch.
 */
import * as ort from 'onnxruntime-node';
import { floatTypeOf, type FloatTensorType } from './tensor-data';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import { dtypeName } from '../../../../language-server/core/model/dtype';

export type Task = 'lm' | 'classify' | 'ocr';

/** A KV-cache input (`past_key_values.N.key`, ...): fed empty (length 0) for whole windows. */
export interface PastInput {
  name: string;
  type: FloatTensorType;
  /** Dimensions from the model, symbolic ones undefined. */
  dims: (number | undefined)[];
  /** The axis of the past sequence length. */
  axis: number;
}

export interface ModelIo {
  task: Task;
  input: string;
  /** The main output (`logits` when the model has one, else the first). */
  output: string;
  inputType: string;
  /** Element type of the main output (float16 models emit float16 logits). */
  outputType: string;
  /** Input shape with symbolic dimensions as undefined. */
  shape: (number | undefined)[];
  /** Other inputs an LM export may take (attention mask, position ids). */
  extra: string[];
  /** KV-cache inputs of an LM export with past (Optimum / genai naming), fed empty. */
  past: PastInput[];
  /** Element type of every input, by name. */
  types: Record<string, string>;
  /** Every output name, in order (KV-cache models: logits, then `present.*`). */
  outputs: string[];
  /** LM: the vocabulary (last axis of the logits) when the model fixes it. */
  vocab?: number;
}

type Meta = { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] };

function meta(list: readonly unknown[]): Meta[] {
  return list as Meta[];
}

const PAST = /past|cache/i;

function pastInput(m: Meta, file: string): PastInput {
  const type = floatTypeOf(m.type);
  if (!type) throw new Error(`${file}: cache input '${m.name}' is ${m.type}, not a float tensor`);
  const raw = m.shape ?? [];
  const dims = raw.map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
  // The past length: the symbolic axis named like one, else the only symbolic axis after the batch.
  let axis = raw.findIndex((d, i) => i > 0 && typeof d === 'string' && /past|seq|len|total|cache/i.test(d));
  if (axis < 0) {
    const free = dims.map((d, i) => (i > 0 && d === undefined ? i : -1)).filter((i) => i >= 0);
    axis = free.length === 1 ? free[0]! : raw.length === 4 ? 2 : -1;
  }
  if (axis < 0) throw new Error(`${file}: cannot tell the past-length axis of cache input '${m.name}' [${raw.join(', ')}]`);
  const unknown = dims.findIndex((d, i) => i > 0 && i !== axis && d === undefined);
  if (unknown >= 0) throw new Error(`${file}: cache input '${m.name}' has a symbolic dimension '${String(raw[unknown])}' besides batch and past length; QRecipe cannot size an empty cache for it`);
  return { name: m.name, type, dims, axis };
}

export function describeIo(session: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>, file = 'model'): ModelIo {
  const ins = meta(session.inputMetadata);
  const outs = meta(session.outputMetadata);
  const main = outs.find((m) => m.name === 'logits') ?? outs[0];
  if (!ins.length || !main) throw new Error(`${file}: the model has no inputs or no outputs`);
  const types = Object.fromEntries(ins.map((m) => [m.name, m.type ?? 'float32']));
  const outputs = outs.map((m) => m.name);
  // Token ids: the integer input named like them (KV-cache exports list masks and positions too).
  const ints = ins.filter((m) => m.type === 'int64' || m.type === 'int32');
  const ids = ints.find((m) => /input_ids|^ids$|token/i.test(m.name)) ?? ints[0];
  const shapeOf = (m: Meta): (number | undefined)[] => (m.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
  const outputType = main.type ?? 'float32';
  if (ids && /id|token|input/i.test(ids.name)) {
    const rest = ins.filter((m) => m !== ids);
    const past = rest.filter((m) => PAST.test(m.name) && floatTypeOf(m.type)).map((m) => pastInput(m, file));
    const pastNames = new Set(past.map((p) => p.name));
    const v = main.shape?.[main.shape.length - 1];
    return {
      task: 'lm', input: ids.name, output: main.name, inputType: ids.type ?? 'int64', outputType, shape: shapeOf(ids),
      extra: rest.filter((m) => !pastNames.has(m.name)).map((m) => m.name), past, types, outputs, ...(typeof v === 'number' && v > 0 ? { vocab: v } : {}),
    };
  }
  const x = ins[0]!;
  const outRank = main.shape?.length ?? 0;
  const s = shapeOf(x);
  // A recogniser takes [N,3,H,W] with a free width and emits one distribution per time step.
  const task: Task = outRank === 3 && s.length === 4 && s[3] === undefined ? 'ocr' : 'classify';
  return { task, input: x.name, output: main.name, inputType: x.type ?? 'float32', outputType, shape: s, extra: ins.slice(1).map((m) => m.name), past: [], types, outputs };
}

/**
 * The same description read from the graph itself (inputs that are not initializers, outputs), for
 * models too big to open a session on just to look at their inputs.
 */
export function describeIoFromModel(model: OnnxModel): ModelIo {
  const g = model.proto.graph ?? {};
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const toMeta = (v: ValueInfoProto): Meta => {
    const t = v.type?.tensorType;
    return {
      name: v.name ?? '', isTensor: !!t, type: t?.elemType !== undefined ? dtypeName(t.elemType) : undefined,
      shape: (t?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined ? d.dimValue : d.dimParam ?? '?')),
    };
  };
  return describeIo({
    inputMetadata: (g.input ?? []).filter((v) => !inits.has(v.name)).map(toMeta) as unknown as ort.InferenceSession['inputMetadata'],
    outputMetadata: (g.output ?? []).map(toMeta) as unknown as ort.InferenceSession['outputMetadata'],
  }, model.path);
}

function intTensor(type: string, b: number, t: number, fill: (w: number, k: number) => number): ort.Tensor {
  if (type === 'int32') {
    const a = new Int32Array(b * t);
    for (let w = 0; w < b; w++) for (let k = 0; k < t; k++) a[w * t + k] = fill(w, k);
    return new ort.Tensor('int32', a, [b, t]);
  }
  const a = new BigInt64Array(b * t);
  for (let w = 0; w < b; w++) for (let k = 0; k < t; k++) a[w * t + k] = BigInt(fill(w, k));
  return new ort.Tensor('int64', a, [b, t]);
}

/**
 * Feeds for a batch of token windows (B×T), each window fed whole: ones for the attention mask,
 * 0..T-1 for position ids, and an empty cache (past length 0) for every KV-cache input, so a
 * model exported with past computes exactly what its no-cache twin does.
 */
export function lmFeeds(io: ModelIo, windows: Int32Array[]): Record<string, ort.Tensor> {
  const b = windows.length;
  const t = windows[0]!.length;
  if (io.vocab) {
    for (const w of windows) for (const id of w) {
      if (id >= io.vocab || id < 0) throw new Error(`token id ${id} is outside the model's vocabulary of ${io.vocab} (its logits' last axis): the data's tokenizer does not belong to this model`);
    }
  }
  const feeds: Record<string, ort.Tensor> = { [io.input]: intTensor(io.inputType, b, t, (w, k) => windows[w]![k]!) };
  for (const name of io.extra) {
    const type = io.types[name] ?? io.inputType;
    if (/mask/i.test(name)) feeds[name] = intTensor(type, b, t, () => 1);
    else if (/pos/i.test(name)) feeds[name] = intTensor(type, b, t, (_, k) => k);
    else throw new Error(`language-model input '${name}' is neither an attention mask, position ids nor a KV cache`);
  }
  for (const p of io.past) {
    const dims = p.dims.map((d, i) => (i === 0 ? b : i === p.axis ? 0 : d!));
    feeds[p.name] = p.type === 'float32' ? new ort.Tensor('float32', new Float32Array(0), dims) : new ort.Tensor(p.type as 'float16', new Uint16Array(0), dims);
  }
  return feeds;
}

/** log-softmax of each row of `v` (rows × n), in float64 accumulation. */
export function logSoftmaxRow(v: Float32Array, offset: number, n: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < n; c++) if (v[offset + c]! > max) max = v[offset + c]!;
  let sum = 0;
  for (let c = 0; c < n; c++) sum += Math.exp(v[offset + c]! - max);
  const lse = max + Math.log(sum);
  for (let c = 0; c < n; c++) out[c] = v[offset + c]! - lse;
}

/** True when the rows already hold probabilities (a Softmax at the end of the graph). */
export function looksLikeProbabilities(v: Float32Array, n: number): boolean {
  const rows = Math.min(4, Math.floor(v.length / n));
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < n; c++) {
      const x = v[r * n + c]!;
      if (x < 0 || x > 1) return false;
      sum += x;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return rows > 0;
}

/** Row-wise log-probabilities, whether the model emits logits or probabilities. */
export function logProbRow(v: Float32Array, offset: number, n: number, probs: boolean, out: Float64Array): void {
  if (probs) for (let c = 0; c < n; c++) out[c] = Math.log(Math.max(v[offset + c]!, 1e-30));
  else logSoftmaxRow(v, offset, n, out);
}
