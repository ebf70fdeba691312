/**
 * One part of the chain as a model of its own: the part's nodes, the constants they need and its
 * initializers (this part's weights only, read from the model's side file on demand, or replaced
 * by the caller's current weights), with the boundary and side tensors as graph inputs. Built in
 * memory and opened from a buffer; a part over protobuf's 2 GiB is written to the run's scratch
 * folder with its own side file instead. Never a copy of the whole model, never written beside it.
 */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import type { ModelProto, TensorProto, ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { dtypeCode, storageBytes } from '../../../../language-server/core/model/dtype';
import { tensorElements } from '../../../../language-server/core/model/reader';
import { tempPathFor } from '../../../../language-server/core/util/atomic';
import type { LongRunOptions } from '../../../../language-server/core/util/cancel';
import { ModelEditor } from '../model/writer';
import { setLayerWeightLazy } from '../model/weights';
import { openSession, type OpenedSession, type ProviderChoice } from '../evaluate/session';
import type { PartPlan } from './plan';

/** Layer name → its current weights (rows × cols float32), asked for when the part is written. */
export type PartWeights = ReadonlyMap<string, () => Promise<Float32Array>>;

/** Largest part built in memory; bigger ones go to the scratch folder with external data. */
const MAX_IN_MEMORY = 1.9e9;

export interface PartModelOptions {
  /** Element type (ONNX name: 'float32', 'float16', 'int64', ...) of each tensor the part reads from outside. */
  inputTypes: ReadonlyMap<string, string>;
  /** Extra tensors to output (e.g. the inputs of the layers being calibrated). */
  expose?: readonly string[];
  /** Only these outputs (default: the part's own outputs plus `expose`). */
  outputs?: readonly string[];
  /** Current weights (rows × cols) of the part's layers that differ from the stored ones, made when the part is written. */
  weights?: PartWeights;
}

/** Bytes of the part's initializers as stored (what building it reads from the model). */
export function partWeightBytes(part: PartPlan): number {
  let n = 0;
  for (const t of part.initializers) n += storageBytes(t.dataType, tensorElements(t));
  for (const c of part.constNodes) for (const a of c.attribute ?? []) if (a.t) n += storageBytes(a.t.dataType, tensorElements(a.t));
  return n;
}

/** The part as an editable model over the original's tensors (initializer records copied, bytes shared). */
export async function partModel(model: OnnxModel, part: PartPlan, o: PartModelOptions): Promise<ModelEditor> {
  const g = model.proto.graph ?? {};
  const declared = new Map<string, ValueInfoProto>([...(g.input ?? []), ...(g.valueInfo ?? [])].map((v) => [v.name ?? '', v]));
  const inputs: ValueInfoProto[] = [];
  for (const name of [...(part.carryIn ? [part.carryIn] : []), ...part.sides]) {
    const type = o.inputTypes.get(name);
    const known = declared.get(name);
    if (type) inputs.push({ name, type: { tensorType: { elemType: dtypeCode(type) } } });
    else if (known?.type?.tensorType?.elemType) inputs.push(known);
    else throw new Error(`${model.path}: the element type of '${name}' (an input of ${part.label}) is not known`);
  }
  const outs = o.outputs ?? [...new Set([...part.outputs, ...(o.expose ?? [])])];
  const graphOut = new Map((g.output ?? []).map((v) => [v.name ?? '', v]));
  const proto: ModelProto = {
    ...model.proto,
    graph: {
      name: `${g.name ?? 'main'}_${part.label}`,
      node: [...part.constNodes, ...part.nodes].sort((a, b) => graphOrder(model, a) - graphOrder(model, b)),
      // Copies of the records, so replacing a weight here leaves the original model untouched.
      initializer: part.initializers.map((t): TensorProto => ({ ...t })),
      input: inputs,
      output: outs.map((name) => graphOut.get(name) ?? { name }),
    },
  };
  const editor = new ModelEditor({ ...model, proto });
  for (const l of part.layers) {
    const w = o.weights?.get(l.name);
    if (w) await setLayerWeightLazy(editor, l, w);
  }
  return editor;
}

/** A node's index in the original graph (a part keeps this order, so it stays topologically sorted). */
const orders = new WeakMap<OnnxModel, Map<object, number>>();
export function graphOrder(model: OnnxModel, n: object): number {
  let m = orders.get(model);
  if (!m) {
    m = new Map((model.proto.graph?.node ?? []).map((x, k) => [x, k]));
    orders.set(model, m);
  }
  return m.get(n) ?? 0;
}

export interface OpenPartOptions extends PartModelOptions, Pick<LongRunOptions, 'signal'> {
  provider?: ProviderChoice;
  /** Where a part too big for memory is written (the run's scratch folder). */
  scratchDir: string;
  ort?: ort.InferenceSession.SessionOptions;
}

/** Builds the part and opens an onnxruntime session on it; the model bytes are dropped once it is open. */
export async function openPart(model: OnnxModel, part: PartPlan, o: OpenPartOptions): Promise<OpenedSession> {
  const editor = await partModel(model, part, o);
  if (partWeightBytes(part) < MAX_IN_MEMORY) {
    const bytes = await editor.toBuffer({ signal: o.signal });
    return openSession(bytes, { provider: o.provider, ort: o.ort });
  }
  await fs.mkdir(o.scratchDir, { recursive: true });
  const file = tempPathFor(path.join(o.scratchDir, `${part.label.replace(/[^\w.-]+/g, '_')}.onnx`));
  const saved = await editor.save(file, { externalData: true, signal: o.signal });
  try {
    return await openSession(file, { provider: o.provider, ort: o.ort });
  } finally {
    await fs.rm(file, { force: true });
    if (saved.externalPath) await fs.rm(saved.externalPath, { force: true });
  }
}

/** The inputs of the given layers (what calibration captures), de-duplicated, in layer order. */
export function layerInputs(layers: readonly LayerInfo[]): string[] {
  return [...new Set(layers.map((l) => l.inputName))];
}
