/**
 * Fine-tuning of a compressed model by knowledge distillation (PV-Tuning, Malinovskii et al.,
 * NeurIPS 2024): the student is the model with its quantised layers decoded from their compressed
 * form, the loss the mean KL(teacher ‖ student) of the output distributions on calibration batches,
 * the teacher the original model. Gradients come from this project's ONNX backward graphs (the
 * quantised weights and the trained float tensors are fed as graph inputs, so one gradient model
 * serves every step). Each step:
 *   - P (continuous): Adam on every continuous parameter (scales, codebooks; norms and biases when
 *     asked), the gradient of a compressed parameter mapped from ∂L/∂W by the chain rule
 *     (compressed.ts `backward`);
 *   - V (discrete): a straight-through copy Ŵ'_st of each quantised weight takes an Adam step along
 *     ∂L/∂Ŵ' (β1 = 0, PV's code optimizer); then the `codeFraction` of code units (weights or
 *     vectors) where Ŵ'_st moved farthest from the decoded weight get new codes, the nearest to
 *     Ŵ'_st — only the units with the largest predicted gain change, never all at once.
 * Step sizes are relative: each tensor's Adam step is lr × its RMS at the start (LAMB-like), with
 * linear warm-up over the first 5 % of steps and cosine decay.
 */
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { GraphIndex } from '../../../../language-server/core/model/graph';
import { isFloatType } from '../../../../language-server/core/model/dtype';
import { graphTensors } from '../../../../language-server/core/model/reader';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import { Rng } from '../../../../language-server/core/util/rng';
import { GradientSession } from '../grad/session';
import { inlineProto, weightsAsInputs } from '../grad/weights';
import type { FeedBatch } from '../evaluate/agreement';
import { floatData } from '../evaluate/tensor-data';
import { transpose } from '../model/weights';
import { backward, continuousParams, decodeLayer, decodeRotated, encodeUnits, largestChanges, unitCount, type CompressedLayer } from './compressed';
import { Adam } from './adam';

export interface FinetuneOptions extends LongRunOptions {
  /** Optimisation steps, one calibration batch each (default 100). */
  steps?: number;
  /** Adam step of the continuous parameters, relative to each tensor's RMS (default 1e-3). */
  lr?: number;
  /** Adam step of the straight-through weights, relative to the weight's RMS (default 1e-2, PV's code_lr). */
  codeLr?: number;
  /** Fraction of code units re-assigned per step (default 0.01, PV's max_code_change_per_step; 0: codes frozen). */
  codeFraction?: number;
  /** Also train 1-D float tensors read by Mul/Add/normalisations (norm scales, biases); default true. */
  norms?: boolean;
  seed?: number;
  /**
   * Also measure the mean KL before and after training on the same fixed batches (two extra passes):
   * `true` all calibration batches, a number the first that many (a few are enough, and cheap).
   */
  measure?: boolean | number;
  /** After each step. */
  onStep?: (s: FinetuneStep) => void;
  /** Test hook: each layer's gradients of its continuous parameters at each step, before the update. */
  inspect?: (step: number, layer: number, grads: Map<string, Float32Array>) => void;
}

export interface FinetuneStep {
  step: number;
  /** KL(teacher ‖ student) on this step's batch, before the step's update (nats per position). */
  loss: number;
  /** Code units re-assigned in this step. */
  changed: number;
  seconds: number;
}

export interface FinetuneResult {
  curve: FinetuneStep[];
  /** Trained float tensors (norms, biases) by stored name, in stored layout. */
  floats: Map<string, Float32Array>;
  /** Mean KL over the measured batches before and after (with `measure`; else the mean of the first and last tenth of the curve). */
  before: number;
  after: number;
  /** Batches `before` and `after` were measured on (the same ones); absent without `measure`. */
  measuredOn?: number;
  codesChanged: number;
  codeUnits: number;
  seconds: number;
}

/** One quantised layer to train: where its weight is stored, and its compressed form (updated in place). */
export interface TrainedLayer {
  info: LayerInfo;
  compressed: CompressedLayer;
}

const TEACHER = 'teacher_logprobs';

/**
 * 1-D float tensors consumed by Mul/Add or as a normalisation's scale or bias: norm scales and
 * biases. BatchNormalization's running mean and variance (inputs 3 and 4) are statistics, not
 * parameters: a step could make a variance negative (NaN at its square root).
 */
export function trainableFloats(model: OnnxModel, exclude: Set<string>): string[] {
  const index = new GraphIndex(model.proto.graph ?? {});
  const ok = new Set(['Mul', 'Add', 'LayerNormalization', 'SimplifiedLayerNormalization', 'BatchNormalization', 'RMSNormalization']);
  const out: string[] = [];
  for (const { tensor, node } of graphTensors(model)) {
    const name = node ? node.output?.[0] : tensor.name;
    if (!name || exclude.has(name) || !isFloatType(tensor.dataType) || tensor.dataType !== 1) continue;
    const dims = (tensor.dims ?? []).map(Number);
    if (dims.length !== 1 || dims[0]! < 2) continue;
    const users = index.consumers.get(name) ?? [];
    const param = (n: (typeof users)[number]): boolean => ok.has(n.opType ?? '') && (n.opType !== 'BatchNormalization' || [1, 2].includes(n.input?.indexOf(name) ?? -1));
    if (users.length && users.every(param)) out.push(name);
  }
  return out;
}

/** Log-probabilities of an output: log-softmax of logits, or the log of probabilities (floored as the loss head does). */
function logProbs(values: Float32Array, classes: number, isProb: boolean): Float32Array {
  const out = new Float32Array(values.length);
  for (let o = 0; o < values.length; o += classes) {
    if (isProb) {
      for (let v = 0; v < classes; v++) out[o + v] = Math.log(Math.max(values[o + v]!, 1e-12));
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < classes; v++) max = Math.max(max, values[o + v]!);
    let s = 0;
    for (let v = 0; v < classes; v++) s += Math.exp(values[o + v]! - max);
    const lse = max + Math.log(s);
    for (let v = 0; v < classes; v++) out[o + v] = values[o + v]! - lse;
  }
  return out;
}

function rms(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s / Math.max(1, a.length)) || 1;
}

/** Learning-rate factor at a step: linear warm-up over 5 % of the steps, then cosine to 0. */
export function schedule(step: number, steps: number): number {
  const warm = Math.max(1, Math.round(0.05 * steps));
  if (step < warm) return (step + 1) / warm;
  return 0.5 * (1 + Math.cos((Math.PI * (step - warm)) / Math.max(1, steps - warm)));
}

/**
 * Fine-tunes `layers` (compressed forms updated in place) and, with `norms`, the model's norm and
 * bias tensors. `student` is the compressed model as stored (other weights as they are); `teacher`
 * the original model file.
 */
export async function finetune(student: OnnxModel, teacher: string, layers: TrainedLayer[], batches: FeedBatch[], opts: FinetuneOptions = {}): Promise<FinetuneResult> {
  const t0 = performance.now();
  const steps = opts.steps ?? 100;
  const lr = opts.lr ?? 1e-3;
  const codeLr = opts.codeLr ?? 1e-2;
  const fraction = opts.codeFraction ?? 0.01;
  const what = 'fine-tuning';
  if (!batches.length) throw new Error('fine-tuning needs at least one calibration batch');
  const output = student.proto.graph?.output?.[0]?.name;
  if (!output) throw new Error(`${student.path}: model has no output`);
  const producer = (student.proto.graph?.node ?? []).find((n) => n.output?.includes(output));
  const isProb = producer?.opType === 'Softmax';

  // the teacher's log-probabilities on every batch, once
  const tSession = await ort.InferenceSession.create(teacher, { logSeverityLevel: 3 });
  const targets: ort.Tensor[] = [];
  try {
    for (const b of batches) {
      throwIfAborted(opts.signal, what);
      const out = (await tSession.run(b.feeds, [output]))[output]!;
      const dims = out.dims.map(Number);
      targets.push(new ort.Tensor('float32', logProbs(floatData(out), dims[dims.length - 1]!, isProb), dims));
      await yieldToLoop();
    }
  } finally {
    await tSession.release();
  }

  const layerTensors = new Set(layers.map((l) => l.info.tensorName));
  const floatNames = opts.norms === false ? [] : trainableFloats(student, layerTensors);
  const names = [...layerTensors, ...floatNames];
  const { proto, values } = weightsAsInputs(student, inlineProto(student), names);
  const session = new GradientSession(proto, { wrt: names, loss: { kind: 'kd', teacher: TEACHER }, output });

  const floats = new Map(floatNames.map((n) => [n, Float32Array.from(values.get(n)!.data)]));
  const floatOpt = new Map(floatNames.map((n) => [n, { adam: new Adam(floats.get(n)!.length), ref: rms(floats.get(n)!) }]));
  const paramOpt = layers.map((l) => new Map([...continuousParams(l.compressed)].map(([k, p]) => [k, { adam: new Adam(p.length), ref: rms(p) }])));
  const straight = layers.map((l) => (fraction > 0 ? decodeRotated(l.compressed) : new Float32Array(0)));
  const stOpt = layers.map((_, i) => (fraction > 0 ? { adam: new Adam(straight[i]!.length, 0, 0.95), ref: rms(straight[i]!) } : undefined));
  const codeUnits = layers.reduce((a, l) => a + unitCount(l.compressed), 0);

  const feedsFor = (b: number): Record<string, ort.Tensor> => {
    const feeds: Record<string, ort.Tensor> = { ...batches[b]!.feeds, [TEACHER]: targets[b]! };
    for (const l of layers) {
      const { info } = l;
      const w = decodeLayer(l.compressed);
      const stored = info.transposed ? transpose(w, info.rows, info.cols) : w;
      feeds[info.tensorName] = new ort.Tensor('float32', stored, values.get(info.tensorName)!.dims);
    }
    for (const [n, v] of floats) feeds[n] = new ort.Tensor('float32', v, values.get(n)!.dims);
    return feeds;
  };
  const measured = opts.measure === true ? batches.length : opts.measure ? Math.max(1, Math.min(batches.length, Math.floor(opts.measure))) : 0;
  const meanLoss = async (): Promise<number> => {
    let s = 0;
    for (let b = 0; b < measured; b++) {
      throwIfAborted(opts.signal, what);
      s += (await session.run(feedsFor(b))).loss;
      await yieldToLoop();
    }
    return s / measured;
  };

  try {
    const before = measured ? await meanLoss() : NaN;
    const rng = new Rng(opts.seed ?? 0);
    let order: number[] = [];
    const curve: FinetuneStep[] = [];
    let codesChanged = 0;
    for (let step = 0; step < steps; step++) {
      throwIfAborted(opts.signal, what);
      if (!order.length) {
        order = batches.map((_, i) => i);
        for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
      }
      const b = order.pop()!;
      const ts = performance.now();
      const r = await session.run(feedsFor(b));
      if (!Number.isFinite(r.loss)) throw new Error(`fine-tuning diverged at step ${step + 1}: the distillation loss is ${r.loss}`);
      const f = schedule(step, steps);
      let changed = 0;
      for (let i = 0; i < layers.length; i++) {
        const { info, compressed: c } = layers[i]!;
        const t = r.grads.get(info.tensorName);
        if (!t) continue;
        const gs = Float32Array.from(floatData(t));
        const G = info.transposed ? transpose(gs, info.cols, info.rows) : gs;
        const { grads, rotated } = backward(c, G);
        opts.inspect?.(step, i, grads);
        const params = continuousParams(c);
        for (const [k, g] of grads) {
          const o = paramOpt[i]!.get(k);
          if (o) o.adam.step(params.get(k)!, g, lr * f * o.ref);
        }
        const so = stOpt[i];
        if (so) {
          const st = straight[i]!;
          so.adam.step(st, rotated, codeLr * f * so.ref);
          const units = largestChanges(c, st, decodeRotated(c), Math.ceil(fraction * unitCount(c)));
          changed += encodeUnits(c, st, units);
        }
      }
      for (const [n, v] of floats) {
        const t = r.grads.get(n);
        if (!t) continue;
        const o = floatOpt.get(n)!;
        o.adam.step(v, floatData(t), lr * f * o.ref);
      }
      codesChanged += changed;
      const s: FinetuneStep = { step: step + 1, loss: r.loss, changed, seconds: (performance.now() - ts) / 1000 };
      curve.push(s);
      opts.onStep?.(s);
      opts.onProgress?.({ done: step + 1, total: steps, label: `step ${step + 1}: KL ${r.loss.toFixed(4)}` });
      await yieldToLoop();
    }
    const tenth = Math.max(1, Math.round(curve.length / 10));
    const mean = (a: FinetuneStep[]): number => a.reduce((x, s) => x + s.loss, 0) / Math.max(1, a.length);
    const after = measured ? await meanLoss() : mean(curve.slice(-tenth));
    return {
      curve, floats, before: measured ? before : mean(curve.slice(0, tenth)), after, ...(measured ? { measuredOn: measured } : {}),
      codesChanged, codeUnits, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await session.release();
  }
}
