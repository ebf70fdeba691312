/**
 * What a model takes and gives, read from onnxruntime's metadata: the task (causal LM, image
 * classifier, CTC text recogniser), the main input and output, and feeds for each kind of batch.
 */
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import { dtypeName } from '../../../../language-server/core/model/dtype';

export type Task = 'lm' | 'classify' | 'ocr';

export interface ModelIo {
  task: Task;
  input: string;
  output: string;
  inputType: string;
  /** Input shape with symbolic dimensions as undefined. */
  shape: (number | undefined)[];
  /** Other inputs an LM export may take (attention mask, position ids). */
  extra: string[];
}

type Meta = { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] };

function meta(list: readonly unknown[]): Meta[] {
  return list as Meta[];
}

export function describeIo(session: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>, file = 'model'): ModelIo {
  const ins = meta(session.inputMetadata);
  const outs = meta(session.outputMetadata);
  const first = outs[0];
  if (!ins.length || !first) throw new Error(`${file}: the model has no inputs or no outputs`);
  const ids = ins.find((m) => m.type === 'int64' || m.type === 'int32');
  const shapeOf = (m: Meta): (number | undefined)[] => (m.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
  if (ids && /id|token|input/i.test(ids.name)) {
    return { task: 'lm', input: ids.name, output: first.name, inputType: ids.type ?? 'int64', shape: shapeOf(ids), extra: ins.filter((m) => m !== ids).map((m) => m.name) };
  }
  const x = ins[0]!;
  const outRank = first.shape?.length ?? 0;
  const s = shapeOf(x);
  // A recogniser takes [N,3,H,W] with a free width and emits one distribution per time step.
  const task: Task = outRank === 3 && s.length === 4 && s[3] === undefined ? 'ocr' : 'classify';
  return { task, input: x.name, output: first.name, inputType: x.type ?? 'float32', shape: s, extra: ins.slice(1).map((m) => m.name) };
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

/** Feeds for a batch of token windows (B×T), with ones/0..T-1 for mask and position inputs. */
export function lmFeeds(io: ModelIo, windows: Int32Array[]): Record<string, ort.Tensor> {
  const b = windows.length;
  const t = windows[0]!.length;
  const make = (fill: (w: number, k: number) => number, type: string): ort.Tensor => {
    if (type === 'int32') {
      const a = new Int32Array(b * t);
      for (let w = 0; w < b; w++) for (let k = 0; k < t; k++) a[w * t + k] = fill(w, k);
      return new ort.Tensor('int32', a, [b, t]);
    }
    const a = new BigInt64Array(b * t);
    for (let w = 0; w < b; w++) for (let k = 0; k < t; k++) a[w * t + k] = BigInt(fill(w, k));
    return new ort.Tensor('int64', a, [b, t]);
  };
  const feeds: Record<string, ort.Tensor> = { [io.input]: make((w, k) => windows[w]![k]!, io.inputType) };
  for (const name of io.extra) {
    if (/mask/i.test(name)) feeds[name] = make(() => 1, io.inputType);
    else if (/pos/i.test(name)) feeds[name] = make((_, k) => k, io.inputType);
    else throw new Error(`language-model input '${name}' is neither an attention mask nor position ids`);
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
