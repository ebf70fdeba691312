/**
 * ONNX element types: names, storage sizes, and conversion of stored bytes to and from float32.
 * Raw tensor bytes in ONNX are little-endian; sub-byte types pack two values per byte, low nibble
 * first.
 */
import { DataType } from './onnx-schema';

const NAMES: Record<number, string> = {
  [DataType.FLOAT]: 'float32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16', [DataType.INT16]: 'int16', [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64', [DataType.STRING]: 'string', [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'float16', [DataType.DOUBLE]: 'float64', [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64', [DataType.COMPLEX64]: 'complex64', [DataType.COMPLEX128]: 'complex128',
  [DataType.BFLOAT16]: 'bfloat16', [DataType.FLOAT8E4M3FN]: 'float8e4m3fn',
  [DataType.FLOAT8E4M3FNUZ]: 'float8e4m3fnuz', [DataType.FLOAT8E5M2]: 'float8e5m2',
  [DataType.FLOAT8E5M2FNUZ]: 'float8e5m2fnuz', [DataType.UINT4]: 'uint4', [DataType.INT4]: 'int4',
  [DataType.FLOAT4E2M1]: 'float4e2m1',
};

/** Bits per element of each ONNX data type (0 for strings and unknown codes). */
const BITS: Record<number, number> = {
  [DataType.FLOAT]: 32, [DataType.UINT8]: 8, [DataType.INT8]: 8, [DataType.UINT16]: 16,
  [DataType.INT16]: 16, [DataType.INT32]: 32, [DataType.INT64]: 64, [DataType.BOOL]: 8,
  [DataType.FLOAT16]: 16, [DataType.DOUBLE]: 64, [DataType.UINT32]: 32, [DataType.UINT64]: 64,
  [DataType.COMPLEX64]: 64, [DataType.COMPLEX128]: 128, [DataType.BFLOAT16]: 16,
  [DataType.FLOAT8E4M3FN]: 8, [DataType.FLOAT8E4M3FNUZ]: 8, [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8, [DataType.UINT4]: 4, [DataType.INT4]: 4, [DataType.FLOAT4E2M1]: 4,
};

export function dtypeName(code: number | undefined): string {
  return NAMES[code ?? 0] ?? `unknown(${code ?? 0})`;
}

export function dtypeCode(name: string): number {
  for (const [code, n] of Object.entries(NAMES)) if (n === name) return Number(code);
  throw new Error(`unknown ONNX element type '${name}'`);
}

export function dtypeBits(code: number | undefined): number {
  return BITS[code ?? 0] ?? 0;
}

/** Bytes taken by `elements` values of this type (sub-byte types round up to whole bytes). */
export function storageBytes(code: number | undefined, elements: number): number {
  return Math.ceil((elements * dtypeBits(code)) / 8);
}

/** True for the types a weight is stored in (floats and the quantised integer types). */
export function isWeightType(code: number | undefined): boolean {
  switch (code) {
    case DataType.FLOAT: case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.DOUBLE:
    case DataType.INT8: case DataType.UINT8: case DataType.INT4: case DataType.UINT4:
    case DataType.FLOAT8E4M3FN: case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ: case DataType.FLOAT4E2M1:
      return true;
    default:
      return false;
  }
}

export function isFloatType(code: number | undefined): boolean {
  return code === DataType.FLOAT || code === DataType.FLOAT16 || code === DataType.BFLOAT16 || code === DataType.DOUBLE;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

/** IEEE half bits → float32 values (exact), through a 64K-entry table built on first use. */
export function halfBitsToFloat32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  const t = halfTable;
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!;
  return out;
}

/** bfloat16 bits → float32 values (exact: the high half of a float32). */
export function bfloat16BitsToFloat32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

/** float32 → IEEE half bits, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still correct
  return sign | h;
}

/** float32 → bfloat16 bits, round to nearest even. */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if (Number.isNaN(v)) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes little-endian stored bytes of a float or integer type to float32 values. */
export function bytesToFloat32(code: number | undefined, bytes: Uint8Array, elements: number): Float32Array {
  const out = new Float32Array(elements);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (code) {
    case DataType.FLOAT:
      // Hosts QRecipe runs on (x64, arm64) are little-endian like the format: a byte copy suffices.
      new Uint8Array(out.buffer).set(bytes.subarray(0, elements * 4));
      break;
    case DataType.DOUBLE:
      for (let i = 0; i < elements; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case DataType.FLOAT16:
      for (let i = 0; i < elements; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case DataType.BFLOAT16:
      for (let i = 0; i < elements; i++) { u32[0] = dv.getUint16(i * 2, true) << 16; out[i] = f32[0]!; }
      break;
    case DataType.INT8: for (let i = 0; i < elements; i++) out[i] = dv.getInt8(i); break;
    case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < elements; i++) out[i] = bytes[i]!; break;
    case DataType.INT16: for (let i = 0; i < elements; i++) out[i] = dv.getInt16(i * 2, true); break;
    case DataType.UINT16: for (let i = 0; i < elements; i++) out[i] = dv.getUint16(i * 2, true); break;
    case DataType.INT32: for (let i = 0; i < elements; i++) out[i] = dv.getInt32(i * 4, true); break;
    case DataType.UINT32: for (let i = 0; i < elements; i++) out[i] = dv.getUint32(i * 4, true); break;
    case DataType.INT64: for (let i = 0; i < elements; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
    case DataType.UINT64: for (let i = 0; i < elements; i++) out[i] = Number(dv.getBigUint64(i * 8, true)); break;
    case DataType.INT4: case DataType.UINT4:
      for (let i = 0; i < elements; i++) {
        const b = bytes[i >> 1]!;
        let v = i & 1 ? b >> 4 : b & 15;
        if (code === DataType.INT4 && v > 7) v -= 16;
        out[i] = v;
      }
      break;
    default:
      throw new Error(`cannot convert ${dtypeName(code)} tensor data to float32`);
  }
  return out;
}

/** Encodes float32 values into little-endian bytes of a float type (float32/16, bfloat16, float64). */
export function float32ToBytes(code: number, values: Float32Array): Uint8Array {
  switch (code) {
    case DataType.FLOAT:
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case DataType.DOUBLE: {
      const out = new Float64Array(values.length);
      out.set(values);
      return new Uint8Array(out.buffer);
    }
    case DataType.FLOAT16: case DataType.BFLOAT16: {
      const out = new Uint16Array(values.length);
      const f = code === DataType.FLOAT16 ? floatToHalf : floatToBfloat16;
      for (let i = 0; i < values.length; i++) out[i] = f(values[i]!);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new Error(`cannot store float32 values as ${dtypeName(code)}`);
  }
}
