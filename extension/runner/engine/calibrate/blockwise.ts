/**
 * GPTQ's sequential driver on the chain of parts (blocks/plan.ts): the prefix runs once over the
 * calibration batches; then, for each part holding layers to compress, the part runs with its
 * current weights (earlier parts already compressed) over the cached boundary tensors with its
 * layers' inputs exposed, the Hessians are accumulated, the caller compresses the part's layers,
 * and the compressed part runs again to make the next part's inputs. Each part runs once or twice
 * whatever the depth, so the cost grows linearly with the number of blocks; one part's weights,
 * its Hessians and the batches' boundary tensors (in memory up to a budget, then spilled to the
 * scratch folder) are all that is held.
 *
 * Same semantics as the whole-model sequential path (calibrate.ts `calibrateSequential`): the
 * inputs of block k are captured on the model with blocks < k already compressed.
 */
import os from 'node:os';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { throwIfAborted, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import * as native from '../../../../native/index';
import { MemoryPeak, type ProviderChoice } from '../evaluate/session';
import type { BlockPlan, PartPlan } from '../blocks/plan';
import { ChainRunner, type ChainBatch, type OpenPart } from '../blocks/chain';
import type { PartWeights } from '../blocks/submodel';
import { ActivationCache, type ActivationStats } from '../blocks/activations';
import { StatsCollector, type LayerStats } from './collect';
import { usableLayers, type CalibrationReport } from './calibrate';

/** What the driver is doing, for progress and ETA (phases of one part, in order). */
export interface PartEvent {
  part: PartPlan;
  /** Index of this part among the parts that hold layers to compress (-1 for the others). */
  group: number;
  groups: number;
  phase: 'capture' | 'compress' | 'forward';
  /** Batches done in this phase (capture, forward). */
  done: number;
  total: number;
}

export interface BlockwiseOptions extends LongRunOptions {
  plan: BlockPlan;
  /** Layers to compress (others are run with their current weights). */
  layers: readonly LayerInfo[];
  /** Collect Hessians (default true); false collects only column norms (Wanda). */
  hessian?: boolean;
  useNative?: boolean;
  provider?: ProviderChoice;
  /** The run's scratch folder (spilled activations, parts too big for memory). */
  scratchDir: string;
  /** Bytes of activations kept in memory before spilling (default: activationBudget()). */
  activationBudget?: number;
  /** Current weights (rows × cols) of these layers where they differ from the model file's, made on demand. */
  current(layers: readonly LayerInfo[]): PartWeights | Promise<PartWeights>;
  onPart?: (e: PartEvent) => void;
  /** Told when onnxruntime falls back to a slower provider than asked (once per reason). */
  onFallback?: (message: string) => void;
}

export interface BlockwiseReport extends CalibrationReport {
  activations: ActivationStats;
  blocks: number;
  /** Where the time went: onnxruntime passes (building and opening parts included), Hessian accumulation, the caller's compression. */
  phases: { forwardSeconds: number; hessianSeconds: number; compressSeconds: number };
  /** Parts the addon's graph executor ran (the others ran on onnxruntime), and on which device. */
  nativeParts: number;
  /** Parts that ran at all (those after the last part with layers to compress do not). */
  partsRun: number;
  nativeDevice?: 'cpu' | 'cuda';
}

/** 'native', an onnxruntime provider, or both ('native+cpu') when some parts fell back. */
function providerOf(used: Set<string>): string {
  return [...used].sort((a, b) => (a === 'native' ? -1 : b === 'native' ? 1 : a.localeCompare(b))).join('+') || 'cpu';
}

/** Activation rows of batch `i` in a part's layer inputs: the boundary's tokens (all its dims but the last). */
function activationRows(cache: ActivationCache, i: number, part: PartPlan, samples: number): number {
  if (!part.carryIn) return samples;
  const d = cache.dims(i, part.carryIn);
  return d.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** Default memory for cached activations: a quarter of the machine's memory, between 256 MiB and 8 GiB (QRECIPE_ACTIVATION_MEMORY_MB overrides). */
export function activationBudget(): number {
  const env = Number(process.env.QRECIPE_ACTIVATION_MEMORY_MB);
  if (Number.isFinite(env) && env >= 0 && process.env.QRECIPE_ACTIVATION_MEMORY_MB !== '') return env * 1048576;
  const total = os.totalmem();
  return Math.min(8 * 1024 ** 3, Math.max(256 * 1048576, total / 4));
}

/**
 * Runs the driver; `compressGroup` compresses a part's layers from their statistics (the caller
 * stores the new weights, which `current` then returns).
 */
export async function calibrateBlockwise(
  model: OnnxModel, batches: Iterable<ChainBatch> | AsyncIterable<ChainBatch>,
  compressGroup: (layers: LayerInfo[], stats: Map<string, LayerStats>) => Promise<void>,
  opts: BlockwiseOptions,
): Promise<BlockwiseReport> {
  const t0 = performance.now();
  const mem = new MemoryPeak();
  const { plan } = opts;
  const { usable, skipped } = usableLayers(model.proto.graph ?? {}, opts.layers);
  const wanted = new Set(usable.map((l) => l.name));
  const targets = plan.parts.map((p) => p.layers.filter((l) => wanted.has(l.name)));
  const groups = targets.filter((t) => t.length).length;
  const cache = new ActivationCache(opts.scratchDir, opts.activationBudget ?? activationBudget());
  const chain = new ChainRunner(model, plan, { cache, scratchDir: opts.scratchDir, provider: opts.provider, signal: opts.signal, onFallback: opts.onFallback });
  const withHessian = opts.hessian !== false;
  const useNative = opts.useNative !== false;
  // With a CUDA accumulator, each Hessian stays on the GPU until its part is done.
  const onDevice = useNative && native.gpuCount() > 0;
  const used = new Set<string>();
  let backend = withHessian ? 'typescript' : 'none';
  let passes = 0;
  const phases = { forwardSeconds: 0, hessianSeconds: 0, compressSeconds: 0 };
  const timed = async <T>(key: keyof typeof phases, fn: () => Promise<T>): Promise<T> => {
    const s0 = performance.now();
    try { return await fn(); } finally { phases[key] += (performance.now() - s0) / 1000; }
  };
  /** Runs an opened part over every batch with its current weights; its outputs become the next part's inputs. */
  const forward = async (p: OpenPart, event: (phase: PartEvent['phase'], done: number, total: number) => void): Promise<void> => {
    for (let i = 0; i < chain.batches; i++) {
      await p.advance(i, await p.run(i, p.part.outputs));
      mem.sample();
      event('forward', i + 1, chain.batches);
    }
    passes++;
    used.add(p.provider);
  };
  try {
    await chain.start(batches);
    const last = plan.parts.length - 1;
    // Nothing after the last part with layers to compress needs to run.
    const end = targets.reduce((a, t, j) => (t.length ? j : a), -1);
    let group = 0;
    for (let j = 0; j <= Math.min(end, last); j++) {
      throwIfAborted(opts.signal, 'calibration');
      const part = plan.parts[j]!;
      const mine = targets[j]!;
      const g = mine.length ? group++ : -1;
      const event = (phase: PartEvent['phase'], done: number, total: number): void => opts.onPart?.({ part, group: g, groups, phase, done, total });
      if (mine.length) {
        opts.onProgress?.({ done: g, total: groups, label: mine[0]!.name });
        const collector = new StatsCollector(mine, model.proto.graph?.node ?? [], withHessian, useNative, onDevice);
        event('capture', 0, chain.batches);
        const tap = collector.canTap;
        let p = await timed('forwardSeconds', async () => chain.open(j, { weights: await opts.current(part.layers), expose: collector.names, tapExposed: tap }));
        try {
          // On the native executor the layers' inputs go straight into their accumulators (taps);
          // on onnxruntime they are fetched and added here.
          const taps = tap && !!p.native;
          let accumulating = 0;
          await timed('forwardSeconds', async () => {
            for (let i = 0; i < chain.batches; i++) {
              const n = chain.samples[i]!;
              if (taps) {
                const out = await p.run(i, [], { taps: collector.taps(n) });
                collector.tapped(activationRows(cache, i, part, n), n);
                for (const v of Object.values(out)) v.dispose();
              } else {
                const out = await p.run(i, collector.names);
                const h0 = performance.now();
                await collector.add(out, {}, n, opts.signal);
                accumulating += (performance.now() - h0) / 1000;
                for (const v of Object.values(out)) v.dispose();
              }
              mem.sample();
              event('capture', i + 1, chain.batches);
            }
          });
          phases.forwardSeconds -= accumulating;
          phases.hessianSeconds += accumulating;
          passes++;
          used.add(p.provider);
          backend = taps ? `${collector.backend} (taps)` : collector.backend;
          event('compress', 0, mine.length);
          const stats = await timed('hessianSeconds', async () => collector.finish());
          await timed('compressSeconds', () => compressGroup(mine, stats));
          mem.sample();
          if (j < end) {
            // The same executor with the compressed weights (no second upload of the part); onnxruntime reopens it.
            event('forward', 0, chain.batches);
            p = await timed('forwardSeconds', async () => chain.reopen(p, await opts.current(part.layers)));
            await timed('forwardSeconds', () => forward(p, event));
          }
        } finally {
          await p.release();
        }
      } else if (j < end) {
        event('forward', 0, chain.batches);
        const p = await timed('forwardSeconds', async () => chain.open(j, { weights: await opts.current(part.layers) }));
        try {
          await timed('forwardSeconds', () => forward(p, event));
        } finally {
          await p.release();
        }
      }
    }
    opts.onProgress?.({ done: groups, total: groups });
  } finally {
    await cache.dispose();
  }
  return {
    skipped, groups, passes, seconds: (performance.now() - t0) / 1000, ...mem.toJSON(), provider: providerOf(used), hessianBackend: backend,
    activations: cache.stats, blocks: plan.blocks, phases,
    nativeParts: chain.nativeParts.size, partsRun: new Set([...chain.nativeParts, ...chain.ortParts]).size, ...(chain.nativeDevice ? { nativeDevice: chain.nativeDevice } : {}),
  };
}
