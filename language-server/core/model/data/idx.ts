/**
 * IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed: a 4-byte magic
 * (0, 0, element type, rank), `rank` big-endian uint32 dimensions, then the values big-endian.
 */
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { readBytes } from './text';
import { DataFileError } from './errors';

export interface IdxArray { file: string; dims: number[]; data: Float32Array | Uint8Array }

const SIZES: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

export async function readIdx(file: string): Promise<IdxArray> {
  const abs = path.resolve(file);
  let buf = await readBytes(abs);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = new Uint8Array(gunzipSync(buf));
    } catch (err) {
      throw new DataFileError(abs, `corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || !SIZES[buf[2]!]) throw new DataFileError(abs, 'not an IDX file (bad magic number)');
  const type = buf[2]!;
  const rank = buf[3]!;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4 + 4 * rank) throw new DataFileError(abs, 'truncated IDX header');
  const dims = Array.from({ length: rank }, (_, k) => dv.getUint32(4 + 4 * k, false));
  const n = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  const size = SIZES[type]!;
  if (buf.length < start + n * size) throw new DataFileError(abs, `truncated IDX data: ${n} values of ${size} bytes announced, ${buf.length - start} bytes present`);
  if (type === 0x08) return { file: abs, dims, data: buf.subarray(start, start + n) };
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = start + i * size;
    data[i] = type === 0x09 ? dv.getInt8(o) : type === 0x0b ? dv.getInt16(o, false) : type === 0x0c ? dv.getInt32(o, false)
      : type === 0x0d ? dv.getFloat32(o, false) : dv.getFloat64(o, false);
  }
  return { file: abs, dims, data };
}
