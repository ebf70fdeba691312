/**
 * What block-wise calibration needs for its largest part, to refuse a model too big for the
 * machine before any work, naming the part. One definition per place a part runs (`PartPlacement`):
 *
 * - onnxruntime (any of its providers): in host memory the part's weights about three times (the
 *   model buffer it is opened from, onnxruntime's copy and its pre-packed MatMul weights);
 * - the addon's graph executor (native-graph.ts) on the CPU: the weights twice in host memory (the
 *   spec the runner builds, which the executor keeps, and the executor's own copy it computes on);
 * - the graph executor on CUDA: the weights twice in host memory while the executor is created (the
 *   spec, and the addon's staging copy it uploads from), once in GPU memory, where the Hessians are
 *   tapped and the live activations are too, plus the CUDA context.
 *
 * Besides the weights, host memory holds the Hessians of the part's layer inputs (4·cols² bytes
 * each) plus one layer's solver workspace, one batch's exposed activations, the cached activations
 * (up to their budget, the rest is spilled) and the compressed weights kept in memory (up to theirs),
 * and a fixed overhead.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import * as native from '../../../../native/index';
import { formatBytes } from '../../../../language-server/core/util/format';
import type { ProviderChoice } from '../evaluate/session';
import type { BlockPlan, PartPlan } from './plan';
import { layerInputs, partWeightBytes } from './submodel';
import { nativeDevice, nativeGraph } from './native-graph';

/** Node.js, onnxruntime and the addon loaded. */
const FIXED = 400 * 1048576;
/** A CUDA context with cuBLAS/cuSOLVER loaded and their workspaces, on the GPU. */
const GPU_FIXED = 512 * 1048576;
/** The share of a memory a run may plan to fill (the rest: fragmentation, the estimate's slack). */
const USABLE = 0.9;

/** Where a part's forward passes run: onnxruntime, or the addon's graph executor on a device. */
export type PartPlacement = { engine: 'onnxruntime' } | { engine: 'native'; device: 'cpu' | 'cuda' };

export interface MemoryNeed {
  weights: number;
  hessians: number;
  activations: number;
  total: number;
}

export interface PartMemory {
  part: PartPlan;
  placement: PartPlacement;
  /** Host memory. */
  host: MemoryNeed;
  /** GPU memory, when the part runs on CUDA. */
  gpu?: MemoryNeed;
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

/**
 * Memory of the GPU a part runs on: the largest usable device the addon reports (the executor picks
 * one GPU per part), with its name; undefined without one. The addon's backendInfo gives each
 * device's total memory (not what other processes already hold on it). QRECIPE_GPU_MEMORY_MB overrides.
 */
export function availableGpuMemory(): { bytes: number; name: string } | undefined {
  const env = Number(process.env.QRECIPE_GPU_MEMORY_MB);
  if (process.env.QRECIPE_GPU_MEMORY_MB && Number.isFinite(env) && env > 0) return { bytes: env * 1048576, name: 'the GPU' };
  let devices: { name: string; memoryGiB: number }[] = [];
  try { devices = native.backendInfo().cuda.devices; } catch { return undefined; }
  const d = devices.reduce<{ name: string; memoryGiB: number } | undefined>((a, b) => (!a || b.memoryGiB > a.memoryGiB ? b : a), undefined);
  return d ? { bytes: d.memoryGiB * 1073741824, name: `the GPU (${d.name})` } : undefined;
}

/** Where the chain (chain.ts) will run parts for this provider choice: the same decision it makes. */
export function partPlacement(choice: ProviderChoice): PartPlacement {
  const device = nativeDevice(choice);
  return device && typeof nativeGraph() !== 'string' ? { engine: 'native', device } : { engine: 'onnxruntime' };
}

export interface RunShape {
  /** Tokens of one calibration batch (windows × length). */
  batchTokens: number;
  /** Bytes of cached activations held in memory (at most their budget; the rest is spilled). */
  cacheBytes: number;
  /** Bytes of compressed weights held in memory (at most their budget; the rest is spilled). */
  storeBytes: number;
}

export function partMemory(part: PartPlan, shape: RunShape, placement: PartPlacement = { engine: 'onnxruntime' }): PartMemory {
  const inputs = layerInputs(part.layers.filter((l) => l.op !== 'Gather'));
  const width = new Map(part.layers.map((l) => [l.inputName, l.cols]));
  const cols = inputs.map((n) => width.get(n) ?? 0);
  const biggest = part.layers.reduce((a, l) => Math.max(a, l.op === 'Gather' ? 0 : l.cols), 0);
  const hessians = cols.reduce((a, c) => a + 4 * c * c, 0) + 3 * 4 * biggest * biggest;
  const bytes = partWeightBytes(part);
  const weights = (placement.engine === 'onnxruntime' ? 3 : 2) * bytes;
  // exposed inputs of one batch, and as much again for the part's own intermediates
  const activations = 2 * 4 * shape.batchTokens * cols.reduce((a, c) => a + c, 0);
  const host = { weights, hessians, activations, total: FIXED + weights + hessians + activations + shape.cacheBytes + shape.storeBytes };
  const gpu = placement.engine === 'native' && placement.device === 'cuda'
    ? { weights: bytes, hessians, activations, total: GPU_FIXED + bytes + hessians + activations } : undefined;
  return { part, placement, host, ...(gpu ? { gpu } : {}) };
}

/** The part needing the most host memory and the one needing the most GPU memory, with what they need. */
export function largestPart(plan: BlockPlan, shape: RunShape, placement: PartPlacement = { engine: 'onnxruntime' }): { host: PartMemory; gpu?: PartMemory } {
  const all = plan.parts.map((p) => partMemory(p, shape, placement));
  const host = all.reduce((a, b) => (b.host.total > a.host.total ? b : a));
  const gpu = all.filter((m) => m.gpu).reduce<PartMemory | undefined>((a, b) => (!a || b.gpu!.total > a.gpu!.total ? b : a), undefined);
  return { host, ...(gpu ? { gpu } : {}) };
}

function engineText(p: PartPlacement): string {
  return p.engine === 'onnxruntime' ? 'on onnxruntime' : `on the native executor (${p.device === 'cuda' ? 'CUDA' : 'CPU'})`;
}

/**
 * Why the plan cannot run in the memory there is (host, and the GPU's when parts run on CUDA),
 * naming the part and what it needs; undefined when it fits.
 */
export function memoryShortfall(plan: BlockPlan, shape: RunShape, placement: PartPlacement,
  have: { host: number; gpu?: { bytes: number; name: string } }): string | undefined {
  const need = largestPart(plan, shape, placement);
  const h = need.host;
  if (h.host.total > USABLE * have.host) {
    const w = placement.engine === 'onnxruntime' ? 'as loaded' : 'the spec and the executor\'s copy';
    return `${h.part.label} needs about ${formatBytes(h.host.total)} of memory for block-by-block calibration ${engineText(placement)} (its weights ${formatBytes(h.host.weights)} ${w}, Hessians ${formatBytes(h.host.hessians)}, activations ${formatBytes(h.host.activations)}, plus cached activations and codes); this machine has ${formatBytes(have.host)}. Use a machine with more memory, or fewer calibration tokens per batch`;
  }
  const g = need.gpu;
  if (g?.gpu) {
    if (!have.gpu) return `${g.part.label} is to run on the GPU, but the native addon reports no usable CUDA device`;
    if (g.gpu.total > USABLE * have.gpu.bytes) {
      return `${g.part.label} needs about ${formatBytes(g.gpu.total)} of GPU memory for block-by-block calibration ${engineText(placement)} (its weights ${formatBytes(g.gpu.weights)} once, Hessians ${formatBytes(g.gpu.hessians)}, live activations ${formatBytes(g.gpu.activations)}, plus the CUDA context); ${have.gpu.name} has ${formatBytes(have.gpu.bytes)}. Use a GPU with more memory, fewer calibration tokens per batch, or --provider cpu`;
    }
  }
  return undefined;
}
