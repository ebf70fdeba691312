/**
 * The addon's graph executor (contract: graph-types.ts; C++ in native/src/graph/): one part of an
 * ONNX model run on the CPU or a CUDA GPU with its weights uploaded once, taps folding tensors into
 * HessianAccumulators. `graphSupport` says, before anything is uploaded, whether a spec can run.
 */
import type { GraphExecutor, GraphRunOptions, GraphSpec, GraphTensor, GraphUnsupported } from './graph-types';
import { check } from './checks';
import { load, runJob, type RawJob } from './load';
import type { Device } from './types';

/** What the addon exports for the executor. */
interface RawExecutor {
  run: RawJob<{ outputs: Record<string, GraphTensor> }>;
  setInitializers(values: Record<string, GraphTensor>): void;
  dispose(): void;
  deviceBytes(): number;
  device(): 'cpu' | 'cuda';
}
export interface GraphAddon {
  GraphExecutor: new (spec: GraphSpec, o: { device: Device; gpu?: number }) => RawExecutor;
  graphSupport(spec: GraphSpec): GraphUnsupported | null;
}

export interface GraphExecutorOptions {
  /** Default 'auto': the GPU when one is usable, else the CPU. */
  device?: Device;
  /** Which GPU holds the part (default: the least busy). */
  gpu?: number;
}

function addon(): GraphAddon {
  return load() as unknown as GraphAddon;
}

/** Why the spec cannot run natively (the first unsupported node), or null when it can. */
export function graphSupport(spec: GraphSpec): GraphUnsupported | null {
  return addon().graphSupport(spec);
}

/** Error thrown by createGraphExecutor for a spec the executor cannot run; `unsupported` says which node. */
export class GraphUnsupportedError extends Error {
  constructor(readonly unsupported: GraphUnsupported) {
    super(unsupported.node !== undefined ? `node '${unsupported.node}' (${unsupported.op ?? '?'}): ${unsupported.reason}` : unsupported.reason);
    this.name = 'GraphUnsupportedError';
  }
}

/** The accumulator internals a tap needs (HessianAccumulator's package-internal surface). */
interface TapTarget {
  tapTarget(): { H: Float32Array; resident: number; count: number };
  tapped(samples: number, device: 'cpu' | 'cuda'): void;
}

class NativeGraphExecutor implements GraphExecutor {
  private raw: RawExecutor | undefined;
  readonly device: 'cpu' | 'cuda';
  constructor(private readonly spec: GraphSpec, o: GraphExecutorOptions) {
    const why = graphSupport(spec);
    if (why) throw new GraphUnsupportedError(why);
    const Ctor = addon().GraphExecutor;
    this.raw = new Ctor(spec, { device: o.device ?? 'auto', ...(o.gpu === undefined ? {} : { gpu: o.gpu }) });
    this.device = this.raw.device();
  }
  private live(): RawExecutor {
    if (!this.raw) throw new Error('the graph executor was disposed');
    return this.raw;
  }
  get deviceBytes(): number {
    return this.raw ? this.raw.deviceBytes() : 0;
  }
  setInitializers(values: Record<string, GraphTensor>): void {
    this.live().setInitializers(values);
  }
  async run(feeds: Record<string, GraphTensor>, opts: GraphRunOptions = {}): Promise<Record<string, GraphTensor>> {
    const raw = this.live();
    for (const name of this.spec.inputs) check(feeds[name] !== undefined, `run: input '${name}' is not fed`);
    const taps = (opts.taps ?? []).map((t) => {
      check(t.samples > 0, `tap '${t.tensor}': samples must be > 0, got ${t.samples}`);
      const target = (t.acc as unknown as TapTarget).tapTarget();
      return { tensor: t.tensor, H: target.H, cols: t.acc.cols, count: target.count, samples: t.samples, resident: target.resident };
    });
    const r = await runJob(() => (o) => raw.run(o), { feeds, taps }, { signal: opts.signal, onProgress: opts.onProgress });
    for (const t of opts.taps ?? []) (t.acc as unknown as TapTarget).tapped(t.samples, this.device);
    return r.outputs;
  }
  dispose(): void {
    this.raw?.dispose();
    this.raw = undefined;
  }
}

/**
 * Parses the spec, checks it (GraphUnsupportedError naming the first node it cannot run) and uploads
 * its initializers to the device: synchronous, so the returned executor is ready.
 */
export function createGraphExecutor(spec: GraphSpec, opts: GraphExecutorOptions = {}): GraphExecutor {
  return new NativeGraphExecutor(spec, opts);
}
