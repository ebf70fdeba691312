/**
 * Editing and writing ONNX models. `ModelEditor` wraps a loaded (or new) model: replace tensor
 * data, add/remove initializers of any type, add/replace/remove nodes, set opset imports, add graph
 * outputs, then `save()` atomically. Saving streams: the graph without its initializers is encoded
 * once, each initializer's bytes are written straight from where they live (the model buffer, the
 * old side file, a replaced array, or a lazy producer called at write time), so a model is never
 * held twice. Initializers go to an external-data side file when asked or when the total exceeds
 * what a protobuf file can hold.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { encodeMessage, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import { AttributeType, DataLocation } from '../../../../language-server/core/model/onnx-schema';
import { dtypeCode, float32ToBytes, storageBytes } from '../../../../language-server/core/model/dtype';
import { tensorBytes, tensorElements, isExternal, externalRef, constantValue, type OnnxModel } from '../../../../language-server/core/model/reader';
import { writeAtomically, tempPathFor } from '../../../../language-server/core/util/atomic';
import { throwIfAborted, type LongRunOptions } from '../../../../language-server/core/util/cancel';

/** Bytes of a tensor, or a producer called once when the tensor is written. */
export type TensorData = Uint8Array | (() => Uint8Array | Promise<Uint8Array>);

/** One attribute value; the key says its ONNX type. */
export type AttrValue =
  | { i: number } | { f: number } | { s: string } | { t: TensorProto }
  | { ints: number[] } | { floats: number[] } | { strings: string[] };

export interface NewNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** '' (default ONNX domain) or e.g. 'com.microsoft'. */
  domain?: string;
  attributes?: Record<string, AttrValue>;
}

export interface SaveOptions extends LongRunOptions {
  /** true: initializers ≥ `externalThreshold` bytes go to a side file; default: only when the total exceeds `maxInlineBytes`. */
  externalData?: boolean;
  /** Side-file name relative to the model (default `<model file name>.data`). */
  externalLocation?: string;
  /** Smallest tensor moved to the side file (default 1024 bytes). */
  externalThreshold?: number;
  /** Inline size limit before switching to external data automatically (default 1.9 GB < protobuf's 2 GiB). */
  maxInlineBytes?: number;
  /**
   * Unchanged external tensors keep pointing at their current side file instead of being copied
   * (for short-lived variants of a big model, e.g. calibration graphs); the target must be in the
   * model's own folder, as onnxruntime only reads external data beside the model.
   */
  keepExternal?: boolean;
}

export interface SaveResult { path: string; bytes: number; externalPath?: string; externalBytes?: number }

const ALIGN = 64;

export function makeAttribute(name: string, v: AttrValue): AttributeProto {
  const enc = new TextEncoder();
  if ('i' in v) return { name, type: AttributeType.INT, i: v.i };
  if ('f' in v) return { name, type: AttributeType.FLOAT, f: v.f };
  if ('s' in v) return { name, type: AttributeType.STRING, s: enc.encode(v.s) };
  if ('t' in v) return { name, type: AttributeType.TENSOR, t: v.t };
  if ('ints' in v) return { name, type: AttributeType.INTS, ints: v.ints };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return { name, type: AttributeType.STRINGS, strings: v.strings.map((s) => enc.encode(s)) };
}

export function makeNode(n: NewNode): NodeProto {
  return {
    opType: n.opType, input: [...n.inputs], output: [...n.outputs], name: n.name ?? n.outputs[0] ?? n.opType,
    ...(n.domain ? { domain: n.domain } : {}),
    attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => makeAttribute(k, v)),
  };
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 128) { v = Math.floor(v / 128); n++; }
  return n;
}

function varint(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 128) { out.push((v % 128) | 128); v = Math.floor(v / 128); }
  out.push(v);
  return Uint8Array.from(out);
}

/** Tag + length prefix of a length-delimited field. */
function fieldHeader(field: number, length: number): Uint8Array {
  const tag = varint(field * 8 + 2);
  const len = varint(length);
  const out = new Uint8Array(tag.length + len.length);
  out.set(tag);
  out.set(len, tag.length);
  return out;
}

export class ModelEditor {
  private readonly lazy = new Map<TensorProto, TensorData>();

  constructor(readonly model: OnnxModel) {
    model.proto.graph ??= {};
    const g = model.proto.graph;
    g.node ??= [];
    g.initializer ??= [];
    g.input ??= [];
    g.output ??= [];
  }

  /** A new, empty model (IR 8, default opset `opset`) to be saved at `file`. */
  static create(file: string, opset = 17, graphName = 'main'): ModelEditor {
    const abs = path.resolve(file);
    const proto: ModelProto = {
      irVersion: 8, producerName: 'qrecipe', opsetImport: [{ domain: '', version: opset }],
      graph: { name: graphName, node: [], initializer: [], input: [], output: [] },
    };
    return new ModelEditor({ path: abs, dir: path.dirname(abs), proto, fileBytes: 0 });
  }

  get graph(): Required<Pick<NonNullable<ModelProto['graph']>, 'node' | 'initializer' | 'input' | 'output'>> & NonNullable<ModelProto['graph']> {
    return this.model.proto.graph as ReturnType<() => ModelEditor['graph']>;
  }

  /** The stored tensor called `name`: an initializer or a Constant node's value. */
  tensor(name: string): TensorProto | undefined {
    const init = this.graph.initializer.find((t) => t.name === name);
    if (init) return init;
    const node = this.graph.node.find((n) => n.opType === 'Constant' && n.output?.[0] === name);
    return node ? constantValue(node) : undefined;
  }

  private mustTensor(name: string): TensorProto {
    const t = this.tensor(name);
    if (!t) throw new Error(`${this.model.path}: no initializer or Constant named '${name}'`);
    return t;
  }

  /** Stored bytes of a tensor (replaced data included). */
  async bytes(t: TensorProto): Promise<Uint8Array> {
    const src = this.lazy.get(t);
    if (src !== undefined) return typeof src === 'function' ? await src() : src;
    return tensorBytes(this.model, t);
  }

  /** Replaces a tensor's data (stored bytes of its own type), keeping name, type and dims unless given. */
  setTensorData(name: string, data: TensorData, opts: { dtype?: string; dims?: number[] } = {}): void {
    const t = this.mustTensor(name);
    this.putData(t, data);
    if (opts.dtype) t.dataType = dtypeCode(opts.dtype);
    if (opts.dims) t.dims = [...opts.dims];
  }

  /** Replaces a float tensor's values, converting to its stored float type (float32/16, bfloat16, float64). */
  setTensorFloat32(name: string, values: Float32Array): void {
    const t = this.mustTensor(name);
    if (values.length !== tensorElements(t)) {
      throw new Error(`tensor '${name}': ${values.length} values given, shape [${(t.dims ?? []).join(', ')}] needs ${tensorElements(t)}`);
    }
    this.putData(t, float32ToBytes(t.dataType ?? 1, values));
  }

  private putData(t: TensorProto, data: TensorData): void {
    for (const k of ['floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data', 'stringData', 'externalData'] as const) delete t[k];
    delete t.dataLocation;
    delete t.rawData;
    if (typeof data === 'function') this.lazy.set(t, data);
    else { t.rawData = data; this.lazy.delete(t); }
  }

  /** Adds (or replaces) an initializer of any type; `data` is its little-endian stored bytes. */
  addInitializer(name: string, dtype: string, dims: number[], data: TensorData): TensorProto {
    this.removeInitializer(name);
    const t: TensorProto = { name, dataType: dtypeCode(dtype), dims: [...dims] };
    this.putData(t, data);
    if (data instanceof Uint8Array) {
      const need = storageBytes(t.dataType, tensorElements(t));
      if (data.byteLength !== need) throw new Error(`initializer '${name}': ${data.byteLength} bytes given, ${dtype}[${dims.join(', ')}] needs ${need}`);
    }
    this.graph.initializer.push(t);
    return t;
  }

  removeInitializer(name: string): boolean {
    const i = this.graph.initializer.findIndex((t) => t.name === name);
    if (i < 0) return false;
    this.lazy.delete(this.graph.initializer[i]!);
    this.graph.initializer.splice(i, 1);
    this.graph.input = this.graph.input.filter((v) => v.name !== name);
    return true;
  }

  /** Inserts a node before `opts.before` (a node name), or at the end; returns it. */
  addNode(n: NewNode, opts: { before?: string } = {}): NodeProto {
    const node = makeNode(n);
    const at = opts.before !== undefined ? this.graph.node.findIndex((x) => x.name === opts.before) : -1;
    if (at >= 0) this.graph.node.splice(at, 0, node); else this.graph.node.push(node);
    return node;
  }

  /** Replaces the node called `name` by `nodes` at the same position. */
  replaceNode(name: string, nodes: NewNode[]): NodeProto[] {
    const at = this.graph.node.findIndex((x) => x.name === name);
    if (at < 0) throw new Error(`${this.model.path}: no node named '${name}'`);
    const made = nodes.map(makeNode);
    this.graph.node.splice(at, 1, ...made);
    return made;
  }

  removeNode(name: string): boolean {
    const at = this.graph.node.findIndex((x) => x.name === name);
    if (at < 0) return false;
    this.graph.node.splice(at, 1);
    return true;
  }

  /** Sets (or adds) the imported version of an operator-set domain ('' = default ONNX). */
  setOpset(domain: string, version: number): void {
    const ops = (this.model.proto.opsetImport ??= []);
    const o = ops.find((x) => (x.domain ?? '') === domain || (domain === '' && x.domain === 'ai.onnx'));
    if (o) o.version = version; else ops.push({ domain, version });
  }

  /** Adds a graph input or output; `elemType` is an ONNX dtype name, `shape` may use symbolic dims. */
  addGraphValue(kind: 'input' | 'output', name: string, elemType?: string, shape?: (number | string)[]): ValueInfoProto {
    const list = this.graph[kind];
    const existing = list.find((v) => v.name === name);
    if (existing) return existing;
    const v: ValueInfoProto = { name };
    if (elemType) {
      v.type = {
        tensorType: {
          elemType: dtypeCode(elemType),
          ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}),
        },
      };
    }
    list.push(v);
    return v;
  }

  /** Writes the model atomically to `file` (see SaveOptions for external data). */
  async save(file: string, opts: SaveOptions = {}): Promise<SaveResult> {
    const target = path.resolve(file);
    if (opts.keepExternal && path.dirname(target) !== this.model.dir) {
      throw new Error(`${target}: a model that keeps its external data must be saved in ${this.model.dir}`);
    }
    const proto = this.model.proto;
    const graph = this.graph;
    const inits = graph.initializer;

    const lengths = inits.map((t) => (opts.keepExternal && isExternal(t) && !this.lazy.has(t) ? 0 : this.dataLength(t)));
    const total = lengths.reduce<number>((a, b) => a + (b ?? 0), 0);
    const maxInline = opts.maxInlineBytes ?? 1.9e9;
    const external = opts.externalData ?? total > maxInline;
    const threshold = opts.externalThreshold ?? 1024;
    const location = opts.externalLocation ?? `${path.basename(target)}.data`;
    const dataTarget = path.resolve(path.dirname(target), location);

    // Layout: for each initializer, its header (fields other than raw_data) and where its bytes go.
    interface Plan { header: Uint8Array; inlineLength: number; externalOffset?: number; length: number; stream: boolean }
    const plans: Plan[] = [];
    let extOffset = 0;
    for (let k = 0; k < inits.length; k++) {
      const t = inits[k]!;
      const len = lengths[k];
      if (opts.keepExternal && isExternal(t) && !this.lazy.has(t)) {
        const header = encodeMessage('TensorProto', t);
        plans.push({ header, inlineLength: header.length, length: 0, stream: false });
        continue;
      }
      if (len === undefined) {
        // Typed fields (float_data, ...) of a small tensor that was never replaced: keep as is.
        const header = encodeMessage('TensorProto', t);
        plans.push({ header, inlineLength: header.length, length: 0, stream: false });
        continue;
      }
      const base: TensorProto = { ...t };
      for (const f of ['rawData', 'externalData', 'dataLocation', 'floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data'] as const) delete base[f];
      if (external && len >= threshold) {
        extOffset = Math.ceil(extOffset / ALIGN) * ALIGN;
        base.dataLocation = DataLocation.EXTERNAL;
        base.externalData = [
          { key: 'location', value: location }, { key: 'offset', value: String(extOffset) }, { key: 'length', value: String(len) },
        ];
        const header = encodeMessage('TensorProto', base);
        plans.push({ header, inlineLength: header.length, externalOffset: extOffset, length: len, stream: true });
        extOffset += len;
      } else {
        const header = encodeMessage('TensorProto', base);
        plans.push({ header, inlineLength: header.length + 1 + varintLength(len) + len, length: len, stream: true });
      }
    }

    const graphRest = encodeMessage('GraphProto', { ...graph, initializer: [] });
    const graphLength = graphRest.length + plans.reduce((a, p) => a + varintLength(p.inlineLength) + 1 + p.inlineLength, 0);
    const modelRest = encodeMessage('ModelProto', { ...proto, graph: undefined });
    const totalTensors = inits.length;
    let written = 0;
    let externalBytes = 0;

    const writeModel = async (tmp: string, tmpData?: string): Promise<void> => {
      const out = await fs.open(tmp, 'w');
      const dataOut = tmpData ? await fs.open(tmpData, 'w') : undefined;
      try {
        const put = async (b: Uint8Array): Promise<void> => { await out.write(b); written += b.length; };
        await put(modelRest);
        await put(fieldHeader(7, graphLength));
        await put(graphRest);
        for (let k = 0; k < inits.length; k++) {
          throwIfAborted(opts.signal, 'saving the model');
          const t = inits[k]!;
          const p = plans[k]!;
          await put(fieldHeader(5, p.inlineLength));
          await put(p.header);
          if (p.stream) {
            const data = await this.bytes(t);
            if (data.byteLength !== p.length) throw new Error(`tensor '${t.name ?? ''}': ${data.byteLength} bytes produced, ${p.length} expected`);
            if (p.externalOffset !== undefined && dataOut) {
              await dataOut.write(data, 0, data.byteLength, p.externalOffset);
              externalBytes = Math.max(externalBytes, p.externalOffset + data.byteLength);
            } else {
              await put(fieldHeader(9, data.byteLength));
              await put(data);
            }
          }
          opts.onProgress?.({ done: k + 1, total: totalTensors, label: t.name });
        }
      } finally {
        await out.close();
        await dataOut?.close();
      }
    };

    const anyExternal = plans.some((p) => p.externalOffset !== undefined);
    if (anyExternal) {
      const tmpData = tempPathFor(dataTarget);
      try {
        await writeAtomically(target, async (tmp) => {
          await writeModel(tmp, tmpData);
          await fs.rename(tmpData, dataTarget);
        });
      } finally {
        await fs.rm(tmpData, { force: true });
      }
      // Saved over the source: tensors now live at the new offsets of the new side file.
      if (target === this.model.path) this.repointExternal(plans, location);
    } else {
      await writeAtomically(target, (tmp) => writeModel(tmp));
    }
    return { path: target, bytes: written, ...(anyExternal ? { externalPath: dataTarget, externalBytes } : {}) };
  }

  /**
   * The whole model as one protobuf buffer with every tensor inline (external tensors are read
   * from their side file). For short-lived models opened from memory, e.g. one block of a big model;
   * refuses models over the 2 GiB a protobuf can hold (save them with external data instead).
   */
  async toBuffer(opts: LongRunOptions = {}): Promise<Uint8Array> {
    const proto = this.model.proto;
    const graph = this.graph;
    const inits = graph.initializer;
    const heads: Uint8Array[] = [];
    const lengths: number[] = [];
    for (const t of inits) {
      const len = this.dataLength(t);
      const base: TensorProto = { ...t };
      if (len !== undefined) for (const f of ['rawData', 'externalData', 'dataLocation', 'floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data'] as const) delete base[f];
      heads.push(encodeMessage('TensorProto', base));
      lengths.push(len ?? -1);
    }
    const inlineLength = (k: number): number => heads[k]!.length + (lengths[k]! >= 0 ? 1 + varintLength(lengths[k]!) + lengths[k]! : 0);
    const graphRest = encodeMessage('GraphProto', { ...graph, initializer: [] });
    let graphLength = graphRest.length;
    for (let k = 0; k < inits.length; k++) graphLength += 1 + varintLength(inlineLength(k)) + inlineLength(k);
    const modelRest = encodeMessage('ModelProto', { ...proto, graph: undefined });
    const header = fieldHeader(7, graphLength);
    const total = modelRest.length + header.length + graphLength;
    if (total > 2 ** 31 - 1) throw new Error(`${this.model.path}: ${total} bytes do not fit in one protobuf buffer (2 GiB); save it with external data`);
    const out = new Uint8Array(total);
    let at = 0;
    const put = (b: Uint8Array): void => { out.set(b, at); at += b.length; };
    put(modelRest);
    put(header);
    put(graphRest);
    for (let k = 0; k < inits.length; k++) {
      throwIfAborted(opts.signal, 'building the model');
      put(fieldHeader(5, inlineLength(k)));
      put(heads[k]!);
      if (lengths[k]! >= 0) {
        const data = await this.bytes(inits[k]!);
        if (data.byteLength !== lengths[k]) throw new Error(`tensor '${inits[k]!.name ?? ''}': ${data.byteLength} bytes produced, ${lengths[k]} expected`);
        put(fieldHeader(9, data.byteLength));
        put(data);
      }
      opts.onProgress?.({ done: k + 1, total: inits.length, label: inits[k]!.name });
    }
    if (at !== total) throw new Error(`${this.model.path}: serialised ${at} bytes, planned ${total}`);
    return out;
  }

  private repointExternal(plans: { externalOffset?: number; length: number }[], location: string): void {
    this.graph.initializer.forEach((t, k) => {
      const p = plans[k]!;
      if (p.externalOffset === undefined) return;
      if (this.lazy.has(t) || t.rawData) return; // still held in memory
      t.dataLocation = DataLocation.EXTERNAL;
      t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(p.externalOffset) }, { key: 'length', value: String(p.length) }];
    });
  }

  /** Stored byte length of a tensor's data, or undefined for typed-field data left as is. */
  private dataLength(t: TensorProto): number | undefined {
    const src = this.lazy.get(t);
    if (src instanceof Uint8Array) return src.byteLength;
    if (src !== undefined) return storageBytes(t.dataType, tensorElements(t));
    if (isExternal(t)) return externalRef(this.model, t).length;
    if (t.rawData && t.rawData.byteLength > 0) return t.rawData.byteLength;
    // Typed fields (float_data, ...): big ones are rewritten as raw bytes, small ones kept as they are.
    const n = storageBytes(t.dataType, tensorElements(t));
    return n >= 1024 && t.dataType !== 8 ? n : undefined;
  }
}
