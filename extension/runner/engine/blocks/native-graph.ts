/**
 * Parts of the chain run by the addon's graph executor (native/graph-types.ts) instead of
 * onnxruntime: where a CUDA GPU is usable, the part's weights are uploaded once and stay on the
 * GPU for the capture pass and, after `setInitializers` with the compressed weights, for the
 * forward pass; the layers' inputs are folded into their Hessian accumulators on the device (taps)
 * instead of crossing the bus. Which parts run here (`nativeDevice`): every part the executor
 * supports with `--provider native` (on the CPU when there is no GPU), and with `auto` only on a
 * machine with a usable CUDA GPU (the addon's CPU interpreter is not faster than onnxruntime's CPU
 * provider). A part it cannot run stays on onnxruntime; chain.ts says why, once per reason.
 */
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import * as native from '../../../../native/index';
import { CancelledError } from '../../../../language-server/core/util/cancel';
import type { GraphExecutor, GraphSpec, GraphTap, GraphTensor, GraphUnsupported } from '../../../../native/graph-types';
import type { ProviderChoice } from '../evaluate/session';
import type { PartPlan } from './plan';
import type { PartWeights } from './submodel';
import { partGraphSpec, weightTensors } from './native-part';

/** What the runner uses of the addon's graph executor (native/graph.ts). */
export interface NativeGraphApi {
  createGraphExecutor(spec: GraphSpec, opts: { device: 'cpu' | 'cuda' }): GraphExecutor | Promise<GraphExecutor>;
  graphSupport(spec: GraphSpec): GraphUnsupported | null | undefined;
}

/** The addon's graph executor, or why this build has none. */
export function nativeGraph(): NativeGraphApi | string {
  if (!native.isAvailable()) return 'the native addon is not loaded';
  const api = native as unknown as Partial<NativeGraphApi>;
  if (typeof api.createGraphExecutor !== 'function' || typeof api.graphSupport !== 'function') return 'this build of the native addon has no graph executor';
  return api as NativeGraphApi;
}

/** Where the executor runs the chain's parts for this provider choice, or undefined for onnxruntime. */
export function nativeDevice(choice: ProviderChoice): 'cpu' | 'cuda' | undefined {
  if (choice !== 'native' && choice !== 'auto') return undefined;
  const gpu = native.isAvailable() && native.gpuCount() > 0;
  if (choice === 'native') return gpu ? 'cuda' : 'cpu';
  return gpu ? 'cuda' : undefined;
}

function describe(u: GraphUnsupported): string {
  return `${u.node ? `node '${u.node}'${u.op ? ` (${u.op})` : ''}: ` : u.op ? `${u.op}: ` : ''}${u.reason}`;
}

/** The executor's arrays and onnxruntime's types: bool travels as bytes of 0/1. */
const ORT_TYPE: Record<string, ort.Tensor.Type> = { Float32Array: 'float32', BigInt64Array: 'int64', Uint8Array: 'bool' };

function toGraph(t: ort.Tensor, name: string): GraphTensor {
  if (t.type !== 'float32' && t.type !== 'int64' && t.type !== 'bool') throw new Error(`input '${name}' is ${t.type}; the native executor takes float32, int64 and bool`);
  return { dims: [...t.dims], data: t.data as GraphTensor['data'] };
}

function toOrt(t: GraphTensor, name: string): ort.Tensor {
  const type = ORT_TYPE[t.data.constructor.name];
  if (!type) throw new Error(`the native executor returned '${name}' as ${t.data.constructor.name}`);
  return new ort.Tensor(type, t.data as never, t.dims);
}

/** One part on the graph executor: its weights uploaded once, replaced in place after compression. */
export class NativePart {
  private constructor(private readonly exec: GraphExecutor, readonly part: PartPlan, private readonly label: string) {}

  get device(): 'cpu' | 'cuda' {
    return this.exec.device;
  }

  get deviceBytes(): number {
    return this.exec.deviceBytes;
  }

  /** Builds the part's spec and creates its executor, or says why the executor cannot run it. */
  static async open(model: OnnxModel, part: PartPlan, o: {
    api: NativeGraphApi; device: 'cpu' | 'cuda'; inputTypes: ReadonlyMap<string, string>; outputs: readonly string[];
    weights?: PartWeights; signal?: AbortSignal;
  }): Promise<NativePart | string> {
    const r = await partGraphSpec(model, part, o);
    if (!r.ok) return r.reason;
    const unsupported = o.api.graphSupport(r.spec);
    if (unsupported) return describe(unsupported);
    const exec = await o.api.createGraphExecutor(r.spec, { device: o.device });
    return new NativePart(exec, part, `${model.path} (${part.label})`);
  }

  /** Runs one batch; taps fold tensors into Hessian accumulators instead of returning them. */
  async run(feeds: Record<string, ort.Tensor>, what: string, opts: { taps?: GraphTap[]; signal?: AbortSignal } = {}): Promise<Record<string, ort.Tensor>> {
    const g: Record<string, GraphTensor> = {};
    for (const [k, t] of Object.entries(feeds)) g[k] = toGraph(t, k);
    let out: Record<string, GraphTensor>;
    try {
      out = await this.exec.run(g, { signal: opts.signal, ...(opts.taps?.length ? { taps: opts.taps } : {}) });
    } catch (err) {
      if (err instanceof CancelledError || (err as Error).name === 'CancelledError') throw err;
      const shapes = Object.entries(feeds).map(([k, t]) => `${k} [${t.dims.join(', ')}]`).join(', ');
      throw new Error(`${this.label}: the native executor failed on ${what} (inputs ${shapes}): ${((err as Error).message ?? String(err)).split('\n')[0]}`);
    }
    const res: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(out)) res[k] = toOrt(t, k);
    return res;
  }

  /** Replaces the part's weights (e.g. with its compressed layers) without uploading the rest again. */
  async setWeights(weights: PartWeights): Promise<void> {
    const values = await weightTensors(this.part, weights);
    if (Object.keys(values).length) this.exec.setInitializers(values);
  }

  dispose(): void {
    this.exec.dispose();
  }
}
