/**
 * Runs a model as its chain of parts (plan.ts), part-major: every batch goes through part j before
 * part j+1 is opened, so only one part's weights are loaded at a time and the batches' boundary
 * tensors wait in the activation cache between parts. Calibration (calibrate/blockwise.ts) and
 * evaluation of models too big for one session (evaluate-chain.ts) are built on it.
 *
 * A part runs on the addon's graph executor (native-graph.ts) when the provider choice asks for it
 * and the executor supports the part, else on onnxruntime (the reason is told once through
 * `onFallback`).
 */
import type * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import type { GraphTap } from '../../../../native/graph-types';
import { providerChoice, runSession, type ProviderChoice } from '../evaluate/session';
import type { BlockPlan, PartPlan } from './plan';
import type { ActivationCache } from './activations';
import { openPart, type PartWeights } from './submodel';
import { NativePart, nativeDevice, nativeGraph } from './native-graph';

export interface ChainBatch { feeds: Record<string, ort.Tensor>; samples: number }

export interface ChainOptions {
  cache: ActivationCache;
  scratchDir: string;
  provider?: ProviderChoice;
  signal?: AbortSignal;
  ort?: ort.InferenceSession.SessionOptions;
  /** Told once per reason when a faster provider could not be used (WebGPU without a GPU adapter, a part the native executor cannot run). */
  onFallback?: (message: string) => void;
}

/** One part opened on one set of weights. */
export interface OpenPart {
  part: PartPlan;
  /** 'native' (the addon's graph executor) or the onnxruntime provider. */
  provider: string;
  /** The native executor runs it: `run` takes taps, `setWeights` replaces weights in place. */
  native?: NativePart;
  /** Runs batch `i`; returns the fetched tensors (dispose them when done). Taps only on a native part. */
  run(i: number, fetch: readonly string[], opts?: { taps?: GraphTap[] }): Promise<Record<string, ort.Tensor>>;
  /** Stores the part's outputs of batch `i` for the next part (its boundary replaces this part's). */
  advance(i: number, out: Record<string, ort.Tensor>): Promise<void>;
  release(): Promise<void>;
}

export interface OpenOptions {
  /** The part's current weights where they differ from the file's. */
  weights?: PartWeights;
  /** Tensors to return besides the part's outputs (e.g. the inputs of the layers being calibrated). */
  expose?: readonly string[];
  /** On the native executor, `expose` is tapped into Hessian accumulators, not returned. */
  tapExposed?: boolean;
}

/** `fn` on the first call only (a part is released once, whichever path releases it first). */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done = false;
  return async () => { if (done) return; done = true; await fn(); };
}

/** A reason with its numbers (node and block indices) blanked, so a reason is told once, not once per block. */
function reasonKey(why: string): string {
  return why.replace(/\d+/g, '#');
}

export class ChainRunner {
  /** Calibration samples in each batch. */
  readonly samples: number[] = [];
  private readonly said = new Set<string>();
  /** Labels of the parts the native executor ran, and the onnxruntime providers of the others. */
  readonly nativeParts = new Set<string>();
  readonly ortParts = new Set<string>();
  readonly ortProviders = new Set<string>();
  /** Device of the native executor ('cpu' or 'cuda') when it ran a part. */
  nativeDevice?: 'cpu' | 'cuda';

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

  /** Says `message` through onFallback, once per reason. */
  private tell(key: string, message: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.o.onFallback?.(message);
  }

  /** The providers that ran parts so far: 'native', onnxruntime's, or both ('native+cpu'). */
  get provider(): string {
    return [...(this.nativeParts.size ? ['native'] : []), ...this.ortProviders].join('+') || 'cpu';
  }

  /** The part on the native executor when the provider choice asks for it and the executor can run it, else why not. */
  private async openNative(part: PartPlan, types: Map<string, string>, opts: OpenOptions): Promise<NativePart | undefined> {
    const device = nativeDevice(providerChoice(this.o.provider));
    if (!device) return undefined;
    const api = nativeGraph();
    const fallback = (why: string): undefined => {
      this.tell(`native:${reasonKey(why)}`, `${part.label} runs on onnxruntime, not the native executor: ${why}`);
      return undefined;
    };
    if (typeof api === 'string') return fallback(api);
    let p: NativePart | string;
    try {
      p = await NativePart.open(this.model, part, {
        api, device, inputTypes: types, outputs: [...new Set([...part.outputs, ...(opts.tapExposed ? [] : opts.expose ?? [])])], weights: opts.weights, signal: this.o.signal,
      });
    } catch (err) {
      throwIfAborted(this.o.signal, part.label);
      p = `the executor could not be created (${((err as Error).message ?? String(err)).split('\n')[0]})`;
    }
    return typeof p === 'string' ? fallback(p) : p;
  }

  /** Opens part `j` with the given current weights and extra outputs. */
  async open(j: number, opts: OpenOptions = {}): Promise<OpenPart> {
    const part = this.plan.parts[j]!;
    const cache = this.o.cache;
    const types = await this.inputTypes(part);
    const label = `${this.model.path} (${part.label})`;
    const feedsOf = async (i: number): Promise<Record<string, ort.Tensor>> => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of [...(part.carryIn ? [part.carryIn] : []), ...part.sides]) feeds[name] = await cache.get(i, name);
      return feeds;
    };
    const advance = async (i: number, out: Record<string, ort.Tensor>): Promise<void> => {
      for (const name of part.outputs) {
        const t = out[name];
        if (!t) throw new Error(`${label}: output '${name}' was not fetched`);
        await cache.put(i, name, t, { share: name !== part.carryOut });
      }
      if (part.carryIn) await cache.delete(i, part.carryIn);
    };
    const nat = await this.openNative(part, types, opts);
    if (nat) {
      this.nativeParts.add(part.label);
      this.nativeDevice = nat.device;
      return {
        part, provider: 'native', native: nat, advance,
        run: async (i, fetch, o = {}) => {
          throwIfAborted(this.o.signal, part.label);
          const out = await nat.run(await feedsOf(i), `batch ${i + 1}`, { taps: o.taps, signal: this.o.signal });
          await yieldToLoop();
          const want = new Set(fetch);
          for (const k of Object.keys(out)) if (!want.has(k)) delete out[k];
          return out;
        },
        release: once(async () => nat.dispose()),
      };
    }
    const session = await openPart(this.model, part, {
      inputTypes: types, expose: opts.expose, weights: opts.weights,
      // No arena: a part's buffers go back to the system when its session is released.
      provider: this.o.provider, scratchDir: this.o.scratchDir, signal: this.o.signal, ort: { enableCpuMemArena: false, ...this.o.ort },
    });
    this.ortProviders.add(session.provider);
    this.ortParts.add(part.label);
    if (session.fallbacks.length) {
      const why = `onnxruntime runs the blocks on ${session.provider}: ${session.fallbacks.join('; ')}`;
      this.tell(why, why);
    }
    return {
      part, provider: session.provider, advance,
      run: async (i, fetch, o = {}) => {
        throwIfAborted(this.o.signal, part.label);
        if (o.taps?.length) throw new Error(`${label}: taps need the native executor`);
        const out = await runSession(session.session, await feedsOf(i), label, `batch ${i + 1}`, [...new Set(fetch)]);
        await yieldToLoop();
        return out;
      },
      release: once(() => session.session.release()),
    };
  }

  /**
   * Part `p` with new weights: the native executor replaces them in place (no second upload of
   * the part); an onnxruntime part is released and opened again (without exposed tensors).
   */
  async reopen(p: OpenPart, weights: PartWeights): Promise<OpenPart> {
    if (p.native) { await p.native.setWeights(weights); return p; }
    await p.release();
    return this.open(p.part.index, { weights });
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
      return p.provider;
    } finally {
      await p.release();
    }
  }
}
