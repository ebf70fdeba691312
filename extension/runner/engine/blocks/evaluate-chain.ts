/**
 * Perplexity and KL of a language model through its chain of parts, for models onnxruntime should
 * not hold whole (twice, for KL): the evaluation windows go part by part through the compressed
 * model (its current weights) and, in step, through the original, so one part of each is loaded
 * at a time; at the suffix each batch's logits of both are scored at once: perplexity of either
 * and KL(original ‖ compressed) with top-1 agreement, in one pass. The same sums as the
 * whole-model evaluation (perplexity.ts, agreement.ts).
 */
import path from 'node:path';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { throwIfAborted, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import { lmFeeds, type ModelIo } from '../evaluate/io';
import { NllSum } from '../evaluate/perplexity';
import { KlSum } from '../evaluate/agreement';
import { MemoryPeak, type ProviderChoice } from '../evaluate/session';
import type { BlockPlan } from './plan';
import { ChainRunner } from './chain';
import { ActivationCache } from './activations';
import type { PartWeights } from './submodel';

export interface ChainEvalOptions extends LongRunOptions {
  model: OnnxModel;
  plan: BlockPlan;
  io: ModelIo;
  windows: Int32Array[];
  /** Windows per onnxruntime run. */
  batch: number;
  /** The compressed model's changed weights of a part's layers. */
  compressed: (layers: readonly LayerInfo[]) => PartWeights;
  /** Also run the original (its perplexity, and KL of the compressed against it). */
  reference: boolean;
  scratchDir: string;
  activationBudget: number;
  provider?: ProviderChoice;
  /** Text bytes per token (bits per byte). */
  bytesPerToken?: number;
  /** Told when onnxruntime falls back to a slower provider than asked. */
  onFallback?: (message: string) => void;
}

export interface ChainEvalResult {
  compressed: { value: number; details: Record<string, number> };
  original?: { value: number; details: Record<string, number> };
  kl?: { value: number; details: Record<string, number> };
  seconds: number;
  /** 'native', an onnxruntime provider, or both ('native+cpu') when some parts fell back. */
  provider: string;
  /** Part runs of the native executor, of `parts` in all (both models). */
  nativeParts: number;
  parts: number;
  peakRssMB: number;
}

export async function evaluateOnChain(o: ChainEvalOptions): Promise<ChainEvalResult> {
  const t0 = performance.now();
  const mem = new MemoryPeak();
  if (o.io.task !== 'lm') throw new Error(`${o.model.path}: evaluation through the chain of blocks needs a language model`);
  const groups: Int32Array[][] = [];
  for (let i = 0; i < o.windows.length; i += o.batch) groups.push(o.windows.slice(i, i + o.batch));
  const batches = groups.map((g) => ({ feeds: lmFeeds(o.io, g), samples: g.length }));
  // Both chains meet the same fallbacks: each is told once.
  const told = new Set<string>();
  const onFallback = (m: string): void => { if (!told.has(m)) { told.add(m); o.onFallback?.(m); } };
  const make = (name: string): { chain: ChainRunner; cache: ActivationCache } => {
    const cache = new ActivationCache(path.join(o.scratchDir, name), o.activationBudget / (o.reference ? 2 : 1));
    return { cache, chain: new ChainRunner(o.model, o.plan, { cache, scratchDir: o.scratchDir, provider: o.provider, signal: o.signal, onFallback }) };
  };
  const a = make('eval-compressed');
  const b = o.reference ? make('eval-original') : undefined;
  const last = o.plan.parts.length - 1;
  const steps = (last + 1) * (b ? 2 : 1);
  let step = 0;
  const progress = (label: string): void => o.onProgress?.({ done: step, total: steps, label });
  try {
    await a.chain.start(batches);
    await b?.chain.start(batches);
    for (let j = 0; j < last; j++) {
      throwIfAborted(o.signal, 'evaluation');
      const part = o.plan.parts[j]!;
      progress(`${part.label} (compressed)`);
      await a.chain.runPart(j, { weights: o.compressed(part.layers), advance: true, onBatch: async () => mem.sample() });
      step++;
      if (b) {
        progress(`${part.label} (original)`);
        await b.chain.runPart(j, { advance: true, onBatch: async () => mem.sample() });
        step++;
      }
    }
    const suffix = o.plan.parts[last]!;
    const output = suffix.graphOutputs.includes(o.io.output) ? o.io.output : suffix.graphOutputs[0]!;
    progress(`${suffix.label}: scoring`);
    const pa = await a.chain.open(last, { weights: o.compressed(suffix.layers) });
    const pb = b ? await b.chain.open(last) : undefined;
    const nllA = new NllSum();
    const nllB = new NllSum();
    const kl = new KlSum();
    try {
      for (let i = 0; i < batches.length; i++) {
        const ya = (await pa.run(i, [output]))[output]!;
        nllA.add(ya, groups[i]!, `${o.model.path}: output '${output}' (compressed)`);
        if (pb) {
          const yb = (await pb.run(i, [output]))[output]!;
          nllB.add(yb, groups[i]!, `${o.model.path}: output '${output}'`);
          kl.add(ya, yb, `${o.model.path}: output '${output}' (compressed)`, `${o.model.path}: output '${output}'`);
          yb.dispose();
        }
        ya.dispose();
        mem.sample();
      }
    } finally {
      await pa.release();
      await pb?.release();
    }
    step = steps;
    progress('done');
    const bpt = o.bytesPerToken ?? 1;
    return {
      compressed: nllA.result(bpt),
      ...(b ? { original: nllB.result(bpt), kl: kl.result() } : {}),
      seconds: (performance.now() - t0) / 1000, provider: a.chain.provider, peakRssMB: mem.toJSON().peakRssMB,
      nativeParts: a.chain.nativeParts.size + (b?.chain.nativeParts.size ?? 0), parts: steps,
    };
  } finally {
    await a.cache.dispose();
    await b?.cache.dispose();
  }
}
