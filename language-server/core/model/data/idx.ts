/**
 * IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed: a 4-byte magic
 * (0, 0, element type, rank), `rank` big-endian uint32 dimensions, then the values big-endian.
 */
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import { readBytes } from './text';
import { DataFileError } from './errors';
import { MAX_DATA_FILE_BYTES } from '../../util/limits';

export interface IdxArray { file: string; dims: number[]; data: Float32Array | Uint8Array }

const SIZES: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/** Bytes an IDX header announces (header included), once `head` holds the whole header; else undefined. */
function announced(head: Uint8Array): number | undefined {
  if (head.length < 4) return undefined;
  const rank = head[3]!;
  if (head[0] !== 0 || head[1] !== 0 || !SIZES[head[2]!]) return 4; // bad magic: the check below says so
  if (head.length < 4 + 4 * rank) return undefined;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let n = 1;
  for (let k = 0; k < rank; k++) n *= dv.getUint32(4 + 4 * k, false);
  return 4 + 4 * rank + n * SIZES[head[2]!]!;
}

/**
 * Inflates a gzip stream only as far as the IDX header inside it announces, so a small gzip bomb
 * (or a header promising terabytes) costs nothing: the header is checked against the bound first.
 */
async function gunzipIdx(abs: string, gz: Uint8Array): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const z = createGunzip();
    const chunks: Uint8Array[] = [];
    let have = 0;
    let want: number | undefined;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      z.destroy();
      if (err) { reject(err); return; }
      const all = new Uint8Array(have);
      let o = 0;
      for (const c of chunks) { all.set(c, o); o += c.length; }
      resolve(want !== undefined ? all.subarray(0, Math.min(want, have)) : all);
    };
    z.on('data', (c: Buffer) => {
      if (done) return;
      chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      have += c.length;
      if (want === undefined) {
        const head = have <= 1028 ? Buffer.concat(chunks) : Buffer.concat(chunks).subarray(0, 1028);
        want = announced(new Uint8Array(head.buffer, head.byteOffset, head.byteLength));
        if (want !== undefined && want > MAX_DATA_FILE_BYTES) {
          finish(new DataFileError(abs, `the IDX header announces ${want.toLocaleString('en-US')} bytes, more than the ${MAX_DATA_FILE_BYTES / 2 ** 30} GiB QRecipe reads`));
          return;
        }
      }
      if (want !== undefined && have >= want) finish(); // the rest is not needed
    });
    z.on('end', () => finish());
    z.on('error', (err) => finish(new DataFileError(abs, `corrupt gzip data (${err.message})`)));
    z.end(gz);
  });
}

export async function readIdx(file: string): Promise<IdxArray> {
  const abs = path.resolve(file);
  let buf = await readBytes(abs);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = await gunzipIdx(abs, buf);
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
