/**
 * Loading ONNX models and reading tensor data. The model file is read once and decoded with
 * protobufjs; inline tensor bytes stay views into that one buffer, external data is read on demand
 * from the side file by offset and length, so a big model is never held twice.
 */
import { promises as fs, statSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { decodeMessage, type ModelProto, type TensorProto, type NodeProto, type AttributeProto } from './onnx-proto';
import { DataLocation, DataType } from './onnx-schema';
import { bytesToFloat32, dtypeName, storageBytes } from './dtype';

/** A decoded model and where it came from (external data paths are relative to `dir`). */
export interface OnnxModel {
  /** Absolute path of the .onnx file. */
  path: string;
  dir: string;
  proto: ModelProto;
  /** Size of the .onnx file in bytes (external data not included). */
  fileBytes: number;
}

/** Thrown for any model file that cannot be read or is not a usable ONNX model. */
export class ModelFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ModelFileError';
  }
}

export interface LoadOptions {
  /** Check that every external-data file exists and is long enough (default true). */
  checkExternal?: boolean;
}

/** Reads and decodes an ONNX model; throws ModelFileError naming the file for bad input. */
export async function loadModel(file: string, opts: LoadOptions = {}): Promise<OnnxModel> {
  const abs = path.resolve(file);
  let buf: Buffer;
  try {
    buf = await fs.readFile(abs);
  } catch (err) {
    throw new ModelFileError(abs, `cannot read model file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return decodeModelBuffer(abs, buf as unknown as Uint8Array, opts);
}

/** Decodes a model already in memory; `file` names it in errors and anchors external data. */
export function decodeModelBuffer(file: string, buf: Uint8Array, opts: LoadOptions = {}): OnnxModel {
  const abs = path.resolve(file);
  if (buf.byteLength === 0) throw new ModelFileError(abs, 'the file is empty, not an ONNX model');
  let proto: ModelProto;
  try {
    proto = decodeMessage<ModelProto>('ModelProto', buf);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const hint = /index out of range/i.test(why) ? 'the file looks truncated or is not an ONNX model' : 'not a valid ONNX (protobuf) model';
    throw new ModelFileError(abs, `${hint} (${why})`);
  }
  const ir = proto.irVersion ?? 0;
  if (!proto.graph || ir < 1 || ir > 64 || !(proto.opsetImport?.length || ir < 3)) {
    throw new ModelFileError(abs, 'not an ONNX model (no graph, IR version or opset import found)');
  }
  const model: OnnxModel = { path: abs, dir: path.dirname(abs), proto, fileBytes: buf.byteLength };
  if (opts.checkExternal !== false) checkExternalData(model);
  return model;
}

/** Version of the default ('' / 'ai.onnx') operator set the model imports. */
export function defaultOpset(model: OnnxModel): number {
  const ops = model.proto.opsetImport ?? [];
  const d = ops.find((o) => !o.domain || o.domain === 'ai.onnx');
  return d?.version ?? 0;
}

export function tensorElements(t: TensorProto): number {
  return (t.dims ?? []).reduce((a, b) => a * b, 1);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === DataLocation.EXTERNAL;
}

export interface ExternalRef { file: string; offset: number; length: number }

function entry(t: TensorProto, key: string): string | undefined {
  return t.externalData?.find((e) => e.key === key)?.value;
}

/** Where an external tensor's bytes are: absolute side-file path, offset and length. */
export function externalRef(model: OnnxModel, t: TensorProto): ExternalRef {
  const location = entry(t, 'location');
  if (!location) throw new ModelFileError(model.path, `tensor '${t.name ?? ''}' is external but has no location`);
  const file = path.resolve(model.dir, location);
  // As onnxruntime does: side files live in the model's folder tree, never elsewhere.
  const rel = path.relative(model.dir, file);
  if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ModelFileError(model.path, `tensor '${t.name ?? ''}': external data location '${location}' is outside the model's folder`);
  }
  const offset = Number(entry(t, 'offset') ?? 0);
  const lengthText = entry(t, 'length');
  const length = lengthText !== undefined ? Number(lengthText) : storageBytes(t.dataType, tensorElements(t));
  return { file, offset, length };
}

/** Every tensor stored in the main graph: initializers and the `value` of Constant nodes. */
export function* graphTensors(model: OnnxModel): Generator<{ tensor: TensorProto; node?: NodeProto }> {
  const g = model.proto.graph ?? {};
  for (const t of g.initializer ?? []) yield { tensor: t };
  for (const n of g.node ?? []) {
    if (n.opType !== 'Constant') continue;
    const v = constantValue(n);
    if (v) yield { tensor: v, node: n };
  }
}

/** The tensor a Constant node produces through its `value` attribute (other forms are scalars). */
export function constantValue(n: NodeProto): TensorProto | undefined {
  const a: AttributeProto | undefined = n.attribute?.find((x) => x.name === 'value');
  return a?.t;
}

function checkExternalData(model: OnnxModel): void {
  const sizes = new Map<string, number>();
  for (const { tensor } of graphTensors(model)) {
    if (!isExternal(tensor)) continue;
    const ref = externalRef(model, tensor);
    let size = sizes.get(ref.file);
    if (size === undefined) {
      try {
        size = statSync(ref.file).size;
      } catch {
        throw new ModelFileError(model.path, `external data file '${ref.file}' of tensor '${tensor.name ?? ''}' is missing`);
      }
      sizes.set(ref.file, size);
    }
    if (ref.offset + ref.length > size) {
      throw new ModelFileError(model.path, `external data file '${ref.file}' is too short for tensor '${tensor.name ?? ''}' (needs bytes ${ref.offset}..${ref.offset + ref.length}, file has ${size})`);
    }
  }
}

/**
 * The stored bytes of a tensor, little-endian as in raw_data: a view of the model buffer for inline
 * raw data, a fresh read for external data, or the typed fields re-encoded.
 */
export function tensorBytes(model: OnnxModel, t: TensorProto): Uint8Array {
  const n = tensorElements(t);
  if (isExternal(t)) {
    const ref = externalRef(model, t);
    const out = new Uint8Array(ref.length);
    let fd: number;
    try {
      fd = openSync(ref.file, 'r');
    } catch {
      throw new ModelFileError(model.path, `external data file '${ref.file}' of tensor '${t.name ?? ''}' is missing`);
    }
    try {
      let done = 0;
      while (done < ref.length) {
        const got = readSync(fd, out, done, Math.min(ref.length - done, 1 << 30), ref.offset + done);
        if (got === 0) throw new ModelFileError(model.path, `external data file '${ref.file}' ended early reading tensor '${t.name ?? ''}'`);
        done += got;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
  if (t.rawData && t.rawData.byteLength > 0) return t.rawData;
  return typedFieldBytes(t, n);
}

function typedFieldBytes(t: TensorProto, n: number): Uint8Array {
  const code = t.dataType;
  const out = new Uint8Array(storageBytes(code, n));
  const dv = new DataView(out.buffer);
  switch (code) {
    case DataType.FLOAT: (t.floatData ?? []).forEach((v, i) => dv.setFloat32(i * 4, v, true)); break;
    case DataType.DOUBLE: (t.doubleData ?? []).forEach((v, i) => dv.setFloat64(i * 8, v, true)); break;
    case DataType.INT64: (t.int64Data ?? []).forEach((v, i) => dv.setBigInt64(i * 8, BigInt(Math.trunc(v)), true)); break;
    case DataType.UINT32: (t.uint64Data ?? []).forEach((v, i) => dv.setUint32(i * 4, v, true)); break;
    case DataType.UINT64: (t.uint64Data ?? []).forEach((v, i) => dv.setBigUint64(i * 8, BigInt(Math.trunc(v)), true)); break;
    case DataType.INT32: (t.int32Data ?? []).forEach((v, i) => dv.setInt32(i * 4, v, true)); break;
    case DataType.INT16: case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16:
      (t.int32Data ?? []).forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true)); break;
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL:
    case DataType.FLOAT8E4M3FN: case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2: case DataType.FLOAT8E5M2FNUZ:
      (t.int32Data ?? []).forEach((v, i) => { out[i] = v & 0xff; }); break;
    case DataType.INT4: case DataType.UINT4: case DataType.FLOAT4E2M1:
      // The typed field holds the packed bytes, two values per int32 entry's low byte.
      (t.int32Data ?? []).forEach((v, i) => { out[i] = v & 0xff; }); break;
    default:
      throw new Error(`tensor '${t.name ?? ''}': cannot read ${dtypeName(code)} data`);
  }
  return out;
}

/** A tensor's values as float32 (float and integer types). */
export function tensorFloat32(model: OnnxModel, t: TensorProto): Float32Array {
  return bytesToFloat32(t.dataType, tensorBytes(model, t), tensorElements(t));
}
