/**
 * Loss heads appended to a model's output before differentiation. Each head is written with
 * ordinary ONNX ops (so the driver differentiates it like the rest of the graph) and ends in one
 * scalar value.
 */
import { DataType } from '../../../../language-server/core/model/onnx-schema';
import { ai, makeTensor, type GraphBuilder } from './builder';

/**
 * What to differentiate:
 * - `lm`: next-token cross-entropy of a token model, mean over all predicted positions; the labels
 *   are the int64 token input (`ids`, default: the model's first integer input) shifted by one.
 * - `label`: cross-entropy against class labels fed at run time as int64 input `labels` (shape of the
 *   output without its last axis), mean over samples.
 * - `logit`: the sum over the batch of one output logit, class `target` (last axis); for outputs of
 *   rank 3 ([batch, time, classes]) at time step `position` (default -1, the last).
 * - `ocr`: minus the mean per-frame log-probability of the greedy path (the largest class of each
 *   frame; CTC-free), for outputs that are already probabilities (Softmax) or logits.
 * - `kd`: knowledge distillation, the mean over positions (every axis but the last) of
 *   KL(teacher ‖ model) = Σ_v p_t·(log p_t − log p_model), with the teacher's log-probabilities fed
 *   at run time as the float input `teacher` (default name `teacher_logprobs`, the output's shape);
 *   the model's log-probabilities are LogSoftmax of logits, or Log of an output that is already a
 *   Softmax (PP-OCR), floored at 1e-12.
 * - `weighted`: Σ output · weights with a constant weight tensor of the output's shape (tests).
 */
export type LossSpec =
  | { kind: 'lm'; ids?: string }
  | { kind: 'label'; labels?: string }
  | { kind: 'logit'; target: number; position?: number }
  | { kind: 'ocr' }
  | { kind: 'kd'; teacher?: string }
  | { kind: 'weighted'; weights: ArrayLike<number> };

export type LossKind = LossSpec['kind'];

/** The head's extra graph inputs (fed by the caller with each batch). */
export interface LossHead {
  loss: string;
  inputs: { name: string; dtype: number; dims: (number | string)[] }[];
}

export interface HeadContext {
  b: GraphBuilder;
  /** The model output the loss reads. */
  output: string;
  outputDims: number[];
  outputDtype: number;
  /** Op type of the node producing the output (the OCR head skips Softmax when present). */
  producerOp?: string;
  /** Integer graph inputs, in order (the `lm` head takes its labels from one). */
  intInputs: string[];
}

const BIG = Number.MAX_SAFE_INTEGER;

/** log-probabilities · one-hot(labels), summed over classes: log p(label) per position. */
function logProbOf(h: HeadContext, logits: string, labels: string, shapeOf: string): string {
  const b = h.b;
  const logp = b.op1('LogSoftmax', [logits], [ai('axis', -1)]);
  const depth = b.slice(b.shape(shapeOf), [-1], [BIG], [0]);
  const values = b.constant(h.outputDtype, [2], [0, 1]);
  const onehot = b.op1('OneHot', [labels, depth, values], [ai('axis', -1)]);
  return b.reduceSum(b.mul(logp, onehot), [h.outputDims.length - 1], false);
}

export function buildLossHead(spec: LossSpec, h: HeadContext): LossHead {
  const b = h.b;
  const rank = h.outputDims.length;
  switch (spec.kind) {
    case 'lm': {
      const ids = spec.ids ?? h.intInputs[0];
      if (!ids) throw new Error("loss 'lm' needs an integer token input (none found; name it with ids)");
      if (rank !== 3) throw new Error(`loss 'lm' needs logits [batch, time, vocab]; output '${h.output}' has rank ${rank}`);
      const logits = b.slice(h.output, [0], [-1], [1]);
      const labels = b.slice(ids, [1], [BIG], [1]);
      const lp = logProbOf(h, logits, labels, h.output);
      return { loss: b.neg(b.reduce('ReduceMean', lp, undefined, false)), inputs: [] };
    }
    case 'label': {
      const labels = spec.labels ?? 'labels';
      const lp = logProbOf(h, h.output, labels, h.output);
      return {
        loss: b.neg(b.reduce('ReduceMean', lp, undefined, false)),
        inputs: [{ name: labels, dtype: DataType.INT64, dims: h.outputDims.slice(0, -1) }],
      };
    }
    case 'logit': {
      let sel = h.output;
      if (rank === 3) sel = b.op1('Gather', [sel, b.constant(DataType.INT64, [], [spec.position ?? -1])], [ai('axis', 1)]);
      else if (spec.position !== undefined) throw new Error(`loss 'logit': position needs an output of rank 3, '${h.output}' has rank ${rank}`);
      const cls = b.op1('Gather', [sel, b.constant(DataType.INT64, [], [spec.target])], [ai('axis', rank === 3 ? 1 : rank - 1)]);
      return { loss: b.reduceSum(cls, undefined, false), inputs: [] };
    }
    case 'ocr': {
      const axis = [rank - 1];
      const best = h.producerOp === 'Softmax'
        ? b.op1('Log', [b.reduce('ReduceMax', h.output, axis, false)])
        : b.reduce('ReduceMax', b.op1('LogSoftmax', [h.output], [ai('axis', -1)]), axis, false);
      return { loss: b.neg(b.reduce('ReduceMean', best, undefined, false)), inputs: [] };
    }
    case 'kd': {
      const teacher = spec.teacher ?? 'teacher_logprobs';
      const last = [rank - 1];
      const logp = h.producerOp === 'Softmax'
        ? b.op1('Log', [b.op1('Max', [h.output, b.scalar(h.outputDtype, 1e-12)])])
        : b.op1('LogSoftmax', [h.output], [ai('axis', -1)]);
      const pt = b.op1('Exp', [teacher]);
      const kl = b.reduceSum(b.mul(pt, b.sub(teacher, logp)), last, false);
      return {
        loss: b.reduce('ReduceMean', kl, undefined, false),
        inputs: [{ name: teacher, dtype: h.outputDtype, dims: h.outputDims }],
      };
    }
    case 'weighted': {
      const n = h.outputDims.reduce((a, d) => a * d, 1);
      if (spec.weights.length !== n) throw new Error(`loss 'weighted': ${spec.weights.length} weights for an output of ${n} values`);
      const name = b.fresh('loss_weights');
      b.initializers.push(makeTensor(name, h.outputDtype, h.outputDims, spec.weights));
      return { loss: b.reduceSum(b.mul(h.output, name), undefined, false), inputs: [] };
    }
  }
}
