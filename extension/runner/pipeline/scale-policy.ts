// How a run treats a big model: the one place that says when evaluation goes through the chain of
// blocks and when the compressed (fake-quant) model is written to the run folder. Thresholds are
// on the model's weight bytes; each has an environment override (MB).
import type { BlockPlan } from '../engine/blocks/plan';
import type { ModelState } from './model-state';

function mb(env: string | undefined, fallback: number): number {
  const v = Number(env);
  return env !== undefined && env !== '' && Number.isFinite(v) && v >= 0 ? v * 1048576 : fallback;
}

/** Models above this evaluate perplexity and KL through the chain of blocks (one block loaded at a time, original and compressed in one pass). */
export function chainEvaluationBytes(): number {
  return mb(process.env.QRECIPE_CHAIN_EVAL_MB, 64 * 1048576);
}

/**
 * Models above this get no fake-quant model.onnx in the run folder (it would be as big as the
 * model): evaluation goes through the chain and exports are made from the original and the codes.
 */
export function fakeQuantFileBytes(): number {
  return mb(process.env.QRECIPE_FAKEQUANT_MAX_MB, 2 * 1024 ** 3);
}

/** The chain evaluation runs on, or undefined when the model is small or cannot be cut into transformer blocks. */
export function evaluationChain(state: ModelState): BlockPlan | undefined {
  if (state.inventory.totalBytes <= chainEvaluationBytes()) return undefined;
  const p = state.blockPlan();
  return p.ok && (p.plan.named || p.plan.transformer) ? p.plan : undefined;
}

/** Whether the run writes the fake-quant model file. */
export function writesCompressedModel(state: ModelState): boolean {
  return state.inventory.totalBytes <= fakeQuantFileBytes() || !evaluationChain(state);
}
