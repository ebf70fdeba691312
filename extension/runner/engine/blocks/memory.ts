/**
 * What block-wise calibration needs in host memory for its largest part, to refuse a model too big
 * for the machine before any work, naming the part: the part's weights about three times (the
 * model buffer it is opened from, onnxruntime's copy and its pre-packed MatMul weights), the
 * Hessians of its layer inputs (4·cols² bytes each) plus one layer's solver workspace, one batch's
 * exposed activations, the cached activations (up to their budget, the rest is spilled) and the
 * compressed weights kept in memory (up to theirs), and a fixed overhead.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { BlockPlan, PartPlan } from './plan';
import { layerInputs, partWeightBytes } from './submodel';

/** Node.js, onnxruntime and the addon loaded. */
const FIXED = 400 * 1048576;

export interface PartMemory {
  part: PartPlan;
  weights: number;
  hessians: number;
  activations: number;
  total: number;
}

/** Memory this process may use: the machine's, or the container's limit when lower (cgroup v2); QRECIPE_MEMORY_MB overrides. */
export function availableMemory(): number {
  const env = Number(process.env.QRECIPE_MEMORY_MB);
  if (process.env.QRECIPE_MEMORY_MB && Number.isFinite(env) && env > 0) return env * 1048576;
  let limit = os.totalmem();
  try {
    const v = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    if (/^\d+$/.test(v)) limit = Math.min(limit, Number(v));
  } catch { /* no cgroup limit */ }
  return limit;
}

export interface RunShape {
  /** Tokens of one calibration batch (windows × length). */
  batchTokens: number;
  /** Bytes of cached activations held in memory (at most their budget; the rest is spilled). */
  cacheBytes: number;
  /** Bytes of compressed weights held in memory (at most their budget; the rest is spilled). */
  storeBytes: number;
}

export function partMemory(part: PartPlan, shape: RunShape): PartMemory {
  const inputs = layerInputs(part.layers.filter((l) => l.op !== 'Gather'));
  const width = new Map(part.layers.map((l) => [l.inputName, l.cols]));
  const cols = inputs.map((n) => width.get(n) ?? 0);
  const biggest = part.layers.reduce((a, l) => Math.max(a, l.op === 'Gather' ? 0 : l.cols), 0);
  const hessians = cols.reduce((a, c) => a + 4 * c * c, 0) + 3 * 4 * biggest * biggest;
  const weights = 3 * partWeightBytes(part);
  // exposed inputs of one batch, and as much again for the part's own intermediates
  const activations = 2 * 4 * shape.batchTokens * cols.reduce((a, c) => a + c, 0);
  return { part, weights, hessians, activations, total: FIXED + weights + hessians + activations + shape.cacheBytes + shape.storeBytes };
}

/** The part needing the most memory, with what it needs. */
export function largestPart(plan: BlockPlan, shape: RunShape): PartMemory {
  return plan.parts.map((p) => partMemory(p, shape)).reduce((a, b) => (b.total > a.total ? b : a));
}
