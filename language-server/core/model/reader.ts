/**
 * Loading ONNX models and reading tensor data. The model file is read once and decoded with
 * protobufjs; inline tensor bytes stay views into that one buffer, external data is read on demand
 * from the side file by offset and length, so a big model is never held twice.
 *
 * A model is untrusted input, so nothing is believed before it is checked (issue 20): the model and
 * its side files are read only as regular files (never `/dev/zero`, a FIFO or a folder) and the
 * model only up to the protobuf limit; side files only inside the model's folder, symlinks resolved;
 * every tensor's dims are whole non-negative numbers and its data holds exactly what the dims and
 * type promise (inline raw data, typed fields, or an external offset and length written as whole
 * numbers inside the side file), all before anything is allocated from them. A later read can
 * therefore never fill missing values with zeros or allocate from a length that is not a number.
 */
import { readSync, closeSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { decodeMessage, type ModelProto, type TensorProto, type NodeProto, type AttributeProto } from './onnx-proto';
import { DataLocation, DataType } from './onnx-schema';
import { bytesToFloat32, dtypeBits, dtypeName, storageBytes } from './dtype';
import { readRegularFile, openRegularFile, RefusedFileError } from '../util/regular-file';
import { MAX_MODEL_FILE_BYTES } from '../util/limits';

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
  /** Check that every external-data file exists, is a regular file and is long enough (default true). */
  checkExternal?: boolean;
}

/** Reads and decodes an ONNX model; throws ModelFileError naming the file for bad input. */
export async function loadModel(file: string, opts: LoadOptions = {}): Promise<OnnxModel> {
  const abs = path.resolve(file);
  let buf: Uint8Array;
  try {
    buf = await readRegularFile(abs, MAX_MODEL_FILE_BYTES, 'model file');
  } catch (err) {
    if (err instanceof RefusedFileError) throw new ModelFileError(abs, err.reason);
    throw new ModelFileError(abs, `cannot read model file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return decodeModelBuffer(abs, buf, opts);
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
  checkTensors(model, opts.checkExternal !== false);
  return model;
}

/** Version of the default ('' / 'ai.onnx') operator set the model imports. */
export function defaultOpset(model: OnnxModel): number {
  const ops = model.proto.opsetImport ?? [];
  const d = ops.find((o) => !o.domain || o.domain === 'ai.onnx');
  return d?.version ?? 0;
}

/** Element count of a tensor's dims (checked whole and non-negative when the model was loaded). */
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

/** A whole non-negative number written in decimal digits (as ONNX writes offsets and lengths). */
function wholeNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const v = Number(text);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Where an external tensor's bytes are: absolute side-file path, offset and length. */
export function externalRef(model: OnnxModel, t: TensorProto): ExternalRef {
  const name = t.name ?? '';
  const location = entry(t, 'location');
  if (!location) throw new ModelFileError(model.path, `tensor '${name}' is external but has no location`);
  const file = path.resolve(model.dir, location);
  // As onnxruntime does: side files live in the model's folder tree, never elsewhere.
  const rel = path.relative(model.dir, file);
  if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel) || location.includes('\0')) {
    throw new ModelFileError(model.path, `tensor '${name}': external data location '${location}' is outside the model's folder`);
  }
  const offsetText = entry(t, 'offset');
  const offset = offsetText === undefined ? 0 : wholeNumber(offsetText);
  if (offset === undefined) throw new ModelFileError(model.path, `tensor '${name}': external data offset '${offsetText}' is not a whole number`);
  const expected = storageBytes(t.dataType, tensorElements(t));
  const lengthText = entry(t, 'length');
  const length = lengthText === undefined ? expected : wholeNumber(lengthText);
  if (length === undefined) throw new ModelFileError(model.path, `tensor '${name}': external data length '${lengthText}' is not a whole number`);
  if (length !== expected) throw new ModelFileError(model.path, `tensor '${name}': external data length ${length} does not match its dims and type (${expected} bytes)`);
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

/** Element count of `dims`, or why the dims are not usable. */
function checkedElements(t: TensorProto): number | string {
  let n = 1;
  for (const d of t.dims ?? []) {
    if (!Number.isSafeInteger(d) || d < 0) return `dimension ${d} is not a whole non-negative number`;
    n *= d;
    if (!Number.isSafeInteger(n)) return `dims [${(t.dims ?? []).join(', ')}] hold more elements than can be addressed`;
  }
  return n;
}

/** Entries a typed field must hold for `n` elements of `code` (0: the type has no typed field QRecipe reads). */
function typedFieldLength(t: TensorProto, n: number): { field: string; have: number; want: number } | undefined {
  const code = t.dataType;
  const len = (a: unknown[] | undefined): number => a?.length ?? 0;
  switch (code) {
    case DataType.FLOAT: return { field: 'float_data', have: len(t.floatData), want: n };
    case DataType.DOUBLE: return { field: 'double_data', have: len(t.doubleData), want: n };
    case DataType.INT64: return { field: 'int64_data', have: len(t.int64Data), want: n };
    case DataType.UINT32: case DataType.UINT64: return { field: 'uint64_data', have: len(t.uint64Data), want: n };
    case DataType.INT4: case DataType.UINT4: case DataType.FLOAT4E2M1: return { field: 'int32_data', have: len(t.int32Data), want: Math.ceil(n / 2) };
    case DataType.COMPLEX64: return { field: 'float_data', have: len(t.floatData), want: 2 * n };
    case DataType.COMPLEX128: return { field: 'double_data', have: len(t.doubleData), want: 2 * n };
    case DataType.STRING: return undefined;
    default: return dtypeBits(code) ? { field: 'int32_data', have: len(t.int32Data), want: n } : undefined;
  }
}

/**
 * Every tensor of the main graph holds what its dims and type promise: dims whole and
 * non-negative; inline raw data exactly as long as the dims say; typed fields exactly as many
 * entries; external data at whole-number offsets inside a regular side file in the model's folder
 * (with `external`). Throws ModelFileError naming the tensor.
 */
function checkTensors(model: OnnxModel, external: boolean): void {
  const sides = new Map<string, number>();
  let realDir: string | undefined;
  for (const { tensor: t, node } of graphTensors(model)) {
    const name = t.name || node?.name || node?.output?.[0] || '';
    const n = checkedElements(t);
    if (typeof n === 'string') throw new ModelFileError(model.path, `tensor '${name}': ${n}`);
    if (t.dataType === DataType.STRING) continue;
    if (!dtypeBits(t.dataType) && n > 0) throw new ModelFileError(model.path, `tensor '${name}' has an unknown element type (${dtypeName(t.dataType)})`);
    const bytes = storageBytes(t.dataType, n);
    if (isExternal(t)) {
      if (!external) continue;
      const ref = externalRef(model, t);
      let size = sides.get(ref.file);
      if (size === undefined) {
        realDir ??= realpathOr(model.dir);
        size = sideFileSize(model, ref.file, name, realDir);
        sides.set(ref.file, size);
      }
      if (ref.offset + ref.length > size) {
        throw new ModelFileError(model.path, `external data file '${ref.file}' is too short for tensor '${name}' (needs bytes ${ref.offset}..${ref.offset + ref.length}, file has ${size})`);
      }
      continue;
    }
    if (t.rawData && t.rawData.byteLength > 0) {
      if (t.rawData.byteLength !== bytes) {
        throw new ModelFileError(model.path, `tensor '${name}': raw data holds ${t.rawData.byteLength} bytes, its dims [${(t.dims ?? []).join(', ')}] and type ${dtypeName(t.dataType)} need ${bytes}`);
      }
      continue;
    }
    const f = typedFieldLength(t, n);
    if (f && f.have !== f.want) {
      throw new ModelFileError(model.path, `tensor '${name}': ${f.field} holds ${f.have} values, its dims [${(t.dims ?? []).join(', ')}] need ${f.want}`);
    }
  }
}

function realpathOr(p: string): string {
  try { return realpathSync(p); } catch { return p; }
}

/** Size of a side file that must be a regular file whose real path lies in the model's real folder. */
function sideFileSize(model: OnnxModel, file: string, tensor: string, realDir: string): number {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    throw new ModelFileError(model.path, `external data file '${file}' of tensor '${tensor}' is missing`);
  }
  const rel = path.relative(realDir, real);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ModelFileError(model.path, `external data file '${file}' of tensor '${tensor}' is a link to '${real}', outside the model's folder`);
  }
  try {
    const fd = openRegularFile(file, 'external data file');
    try { return fd.size; } finally { closeSync(fd.fd); }
  } catch (err) {
    if (err instanceof RefusedFileError) throw new ModelFileError(model.path, `external data file '${file}' of tensor '${tensor}': ${err.reason}`);
    throw new ModelFileError(model.path, `external data file '${file}' of tensor '${tensor}' is missing`);
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
    let fd: number;
    try {
      const opened = openRegularFile(ref.file, 'external data file');
      fd = opened.fd;
      if (ref.offset + ref.length > opened.size) {
        closeSync(fd);
        throw new ModelFileError(model.path, `external data file '${ref.file}' is too short for tensor '${t.name ?? ''}'`);
      }
    } catch (err) {
      if (err instanceof ModelFileError) throw err;
      if (err instanceof RefusedFileError) throw new ModelFileError(model.path, `external data file '${ref.file}' of tensor '${t.name ?? ''}': ${err.reason}`);
      throw new ModelFileError(model.path, `external data file '${ref.file}' of tensor '${t.name ?? ''}' is missing`);
    }
    const out = new Uint8Array(ref.length);
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
  if (t.rawData && t.rawData.byteLength > 0) {
    // checked at load for the graph's tensors; tensors built later (writer) are checked here
    if (t.rawData.byteLength !== storageBytes(t.dataType, n)) throw new ModelFileError(model.path, `tensor '${t.name ?? ''}': raw data holds ${t.rawData.byteLength} bytes, its dims need ${storageBytes(t.dataType, n)}`);
    return t.rawData;
  }
  return typedFieldBytes(model.path, t, n);
}

function typedFieldBytes(file: string, t: TensorProto, n: number): Uint8Array {
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
      throw new ModelFileError(file, `tensor '${t.name ?? ''}': cannot read ${dtypeName(code)} data`);
  }
  return out;
}

/** A tensor's values as float32 (float and integer types). */
export function tensorFloat32(model: OnnxModel, t: TensorProto): Float32Array {
  return bytesToFloat32(t.dataType, tensorBytes(model, t), tensorElements(t));
}
