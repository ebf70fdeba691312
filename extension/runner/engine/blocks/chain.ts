/**
 * Runs a model as its chain of parts (plan.ts), part-major: every batch goes through part j before
 * part j+1 is opened, so only one part's weights are loaded at a time and the batches' boundary
 * tensors wait in the activation cache between parts. Calibration (calibrate/blockwise.ts) and
 * evaluation of models too big for one session (evaluate-chain.ts) are built on it.
 */
import type * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { runSession, type OpenedSession, type ProviderChoice } from '../evaluate/session';
import type { BlockPlan, PartPlan } from './plan';
import type { ActivationCache } from './activations';
import { openPart, type PartWeights } from './submodel';

export interface ChainBatch { feeds: Record<string, ort.Tensor>; samples: number }

export interface ChainOptions {
  cache: ActivationCache;
  scratchDir: string;
  provider?: ProviderChoice;
  signal?: AbortSignal;
  ort?: ort.InferenceSession.SessionOptions;
  /** Told once when a faster provider could not be used (e.g. WebGPU without a GPU adapter). */
  onFallback?: (message: string) => void;
}

/** One part opened on one set of weights. */
export interface OpenPart {
  part: PartPlan;
  session: OpenedSession;
  /** Runs batch `i`; returns the fetched tensors (dispose them when done). */
  run(i: number, fetch: readonly string[]): Promise<Record<string, ort.Tensor>>;
  /** Stores the part's outputs of batch `i` for the next part (its boundary replaces this part's). */
  advance(i: number, out: Record<string, ort.Tensor>): Promise<void>;
  release(): Promise<void>;
}

export class ChainRunner {
  /** Calibration samples in each batch. */
  readonly samples: number[] = [];
  private fallbackSaid?: string;

  constructor(readonly model: OnnxModel, readonly plan: BlockPlan, private readonly o: ChainOptions) {}

  get batches(): number {
    return this.samples.length;
  }

  /** Takes the batches' graph inputs (the feeds the parts read) into the cache. */
  async start(batches: AsyncIterable<ChainBatch> | Iterable<ChainBatch>): Promise<void> {
    const wanted = new Set(this.plan.parts.flatMap((p) => (p.index === 0 ? p.sides : p.sides.filter((s) => !this.plan.parts[0]!.outputs.includes(s)))));
    for await (const b of batches as AsyncIterable<ChainBatch>) {
      throwIfAborted(this.o.signal, 'calibration');
      const i = this.samples.length;
      for (const name of wanted) {
        const t = b.feeds[name];
        if (!t) throw new Error(`${this.model.path}: the batches have no input '${name}'`);
        await this.o.cache.put(i, name, t, { share: true });
      }
      this.samples.push(b.samples);
    }
    if (!this.samples.length) throw new Error('no calibration batches');
  }

  /** The element types of what part `j` reads, from batch 0's cached tensors. */
  private async inputTypes(part: PartPlan): Promise<Map<string, string>> {
    const m = new Map<string, string>();
    for (const name of [...(part.carryIn ? [part.carryIn] : []), ...part.sides]) m.set(name, (await this.o.cache.get(0, name)).type);
    return m;
  }

  /** Opens part `j` with the given current weights and extra outputs. */
  async open(j: number, opts: { weights?: PartWeights; expose?: readonly string[] } = {}): Promise<OpenPart> {
    const part = this.plan.parts[j]!;
    const cache = this.o.cache;
    const session = await openPart(this.model, part, {
      inputTypes: await this.inputTypes(part), expose: opts.expose, weights: opts.weights,
      // No arena: a part's buffers go back to the system when its session is released.
      provider: this.o.provider, scratchDir: this.o.scratchDir, signal: this.o.signal, ort: { enableCpuMemArena: false, ...this.o.ort },
    });
    if (session.fallbacks.length && this.o.onFallback) {
      const why = `onnxruntime runs the blocks on ${session.provider}: ${session.fallbacks.join('; ')}`;
      if (why !== this.fallbackSaid) { this.fallbackSaid = why; this.o.onFallback(why); }
    }
    const label = `${this.model.path} (${part.label})`;
    return {
      part, session,
      run: async (i, fetch) => {
        throwIfAborted(this.o.signal, part.label);
        const feeds: Record<string, ort.Tensor> = {};
        for (const name of [...(part.carryIn ? [part.carryIn] : []), ...part.sides]) feeds[name] = await cache.get(i, name);
        const out = await runSession(session.session, feeds, label, `batch ${i + 1}`, [...new Set(fetch)]);
        await yieldToLoop();
        return out;
      },
      advance: async (i, out) => {
        for (const name of part.outputs) {
          const t = out[name];
          if (!t) throw new Error(`${label}: output '${name}' was not fetched`);
          await cache.put(i, name, t, { share: name !== part.carryOut });
        }
        if (part.carryIn) await cache.delete(i, part.carryIn);
      },
      release: () => session.session.release(),
    };
  }

  /**
   * Runs part `j` over every batch: `onBatch` sees the fetched tensors (the part's outputs and
   * `expose`); with `advance`, the part's outputs become the next part's inputs.
   */
  async runPart(j: number, opts: {
    weights?: PartWeights; expose?: readonly string[]; advance: boolean;
    onBatch?: (i: number, out: Record<string, ort.Tensor>) => Promise<void>;
    onProgress?: (done: number, total: number) => void;
  }): Promise<string> {
    const p = await this.open(j, opts);
    try {
      const part = p.part;
      const fetch = [...(opts.advance || !opts.expose?.length ? part.outputs : []), ...(opts.expose ?? [])];
      for (let i = 0; i < this.batches; i++) {
        const out = await p.run(i, fetch);
        if (opts.onBatch) await opts.onBatch(i, out);
        if (opts.advance) await p.advance(i, out);
        opts.onProgress?.(i + 1, this.batches);
      }
      return p.session.provider;
    } finally {
      await p.release();
    }
  }
}
