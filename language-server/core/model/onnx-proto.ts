/**
 * Plain TypeScript views of the decoded ONNX messages (camel-cased field names, int64 as number,
 * bytes as Uint8Array views into the file buffer) and the decode/encode functions around
 * protobufjs. Only the fields QRecipe touches are typed; everything else rides along untouched.
 */
import { onnxType } from './onnx-schema';

export interface StringStringEntry { key?: string; value?: string }
export interface OpsetId { domain?: string; version?: number }

export interface TensorProto {
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  stringData?: Uint8Array[];
  int64Data?: number[];
  name?: string;
  rawData?: Uint8Array;
  doubleData?: number[];
  uint64Data?: number[];
  docString?: string;
  externalData?: StringStringEntry[];
  dataLocation?: number;
  [other: string]: unknown;
}

export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  [other: string]: unknown;
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
  docString?: string;
  /** Exporter metadata, e.g. the dynamo exporter's `pkg.torch.onnx.name_scopes`. */
  metadataProps?: { key?: string; value?: string }[];
  [other: string]: unknown;
}

export interface TensorShapeDim { dimValue?: number; dimParam?: string; denotation?: string }
export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: TensorShapeDim[] } };
  [other: string]: unknown;
}
export interface ValueInfoProto { name?: string; type?: TypeProto; docString?: string; [other: string]: unknown }

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  docString?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  [other: string]: unknown;
}

export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  opsetImport?: OpsetId[];
  metadataProps?: StringStringEntry[];
  [other: string]: unknown;
}

const toObjectOptions = { longs: Number, enums: Number, arrays: true, defaults: false } as const;

/** Decodes one ONNX message; `bytes` fields stay views into `buf` (no copy of the weights). */
export function decodeMessage<T>(typeName: string, buf: Uint8Array): T {
  const type = onnxType(typeName);
  return type.toObject(type.decode(buf), toObjectOptions) as T;
}

/** Encodes one ONNX message from its plain-object form. */
export function encodeMessage(typeName: string, message: object): Uint8Array {
  return onnxType(typeName).encode(clampInt64(message) as Record<string, unknown>).finish();
}

// int64 fields decoded as JavaScript numbers round values beyond 2^53; the common sentinel
// INT64_MAX (e.g. Slice ends) becomes 2^63, which protobufjs would wrap to INT64_MIN on encode.
// These keys hold int64 values in the messages above; out-of-range numbers are written saturated.
const INT64_KEYS = new Set(['i', 'ints', 'int64Data', 'dims', 'dimValue', 'version', 'irVersion', 'modelVersion', 'begin', 'end']);
const INT64_MAX = '9223372036854775807';
const INT64_MIN = '-9223372036854775808';
const LIMIT = 2 ** 63;

function saturate(v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (v >= LIMIT) return INT64_MAX;
  if (v <= -LIMIT) return INT64_MIN;
  return v;
}

// Copy-on-write: returns `value` itself when nothing is out of range, so the in-memory model keeps
// its numbers and only the encoded bytes carry the saturated strings.
function clampInt64(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let k = 0; k < value.length; k++) {
      const v = value[k] as unknown;
      if (v === null || typeof v !== 'object') continue;
      const c = clampInt64(v);
      if (c !== v) (out ??= value.slice())[k] = c;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    let c: unknown = v;
    if (INT64_KEYS.has(key)) {
      if (Array.isArray(v)) {
        if (v.some((x) => typeof x === 'number' && Math.abs(x) >= LIMIT)) c = v.map(saturate);
      } else c = saturate(v);
    } else if (v !== null && typeof v === 'object') c = clampInt64(v);
    if (c !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = c;
  }
  return out ?? value;
}
