// `quant.bin`: the integer codes, scales and zero points of every quantised layer of a run, so that
// `qrecipe export RUN` can write packed formats later without redoing the quantisation.
// Layout: "QRQB", u32 version, u32 header length, JSON header, then 64-byte-aligned blobs
// (codes uint8 rows×cols, scales float32 rows×groups, zeros float32 rows×groups, gIdx int32 cols).
import { promises as fs } from 'node:fs';
import { writeAtomically, writeFileAtomic } from '../../../language-server/core/util/atomic';
import { CancelledError } from '../../../language-server/core/util/cancel';

/** The quantised form of one layer: W ≈ scale[r][g(c)] · (codes[r][c] − zero[r][g(c)]). */
export interface QuantizedLayer {
  name: string;
  rows: number;
  cols: number;
  bits: number;
  /** Columns per group; equals `cols` for one group per row ('channel'). */
  groupSize: number;
  symmetric: boolean;
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Float32Array;
  /** Group of each column when it is not `⌊c / groupSize⌋` (GPTQ act-order without static groups). */
  gIdx?: Int32Array;
  /** Entries that are exact zeros of a pruned layer are still coded; `sparsity` is informative. */
  sparsity?: number;
}

const MAGIC = 0x42515251; // "QRQB" little-endian
const VERSION = 1;
const ALIGN = 64;

interface Span { offset: number; length: number }
interface HeaderLayer { name: string; rows: number; cols: number; bits: number; groupSize: number; symmetric: boolean; sparsity?: number; codes: Span; scales: Span; zeros: Span; gIdx?: Span }

export function groupsOf(q: Pick<QuantizedLayer, 'cols' | 'groupSize'>): number {
  return Math.ceil(q.cols / q.groupSize);
}

/** Writes all layers atomically. */
export async function writeQuantStore(file: string, layers: QuantizedLayer[]): Promise<number> {
  const blobs: Uint8Array[] = [];
  const header: HeaderLayer[] = [];
  let offset = 0;
  const add = (a: ArrayBufferView): Span => {
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const span = { offset, length: bytes.byteLength };
    blobs.push(bytes);
    offset += bytes.byteLength;
    return span;
  };
  for (const q of layers) {
    header.push({
      name: q.name, rows: q.rows, cols: q.cols, bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric,
      ...(q.sparsity !== undefined ? { sparsity: q.sparsity } : {}),
      codes: add(q.codes), scales: add(q.scales), zeros: add(q.zeros), ...(q.gIdx ? { gIdx: add(q.gIdx) } : {}),
    });
  }
  const json = new TextEncoder().encode(JSON.stringify({ layers: header }));
  const start = Math.ceil((12 + json.length) / ALIGN) * ALIGN;
  const out = new Uint8Array(start + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, json.length, true);
  out.set(json, 12);
  let k = 0;
  for (const h of header) {
    for (const s of [h.codes, h.scales, h.zeros, h.gIdx]) if (s) out.set(blobs[k++]!, start + s.offset);
  }
  await writeFileAtomic(file, out);
  return out.byteLength;
}

/** The arrays' byte sizes of a layer (codes, scales, zeros, gIdx). */
function blobSizes(q: Pick<QuantizedLayer, 'rows' | 'cols' | 'groupSize'> & { hasGIdx?: boolean; gIdx?: Int32Array }): number[] {
  const g = q.rows * groupsOf(q);
  return [q.rows * q.cols, 4 * g, 4 * g, ...(q.hasGIdx || q.gIdx ? [4 * q.cols] : [])];
}

/**
 * Writes the store atomically one layer at a time: the header is made from the layers' shapes,
 * then each layer is loaded (`load`), written at its offsets and dropped, so the codes of every
 * layer are never in memory at once. Same bytes as writeQuantStore.
 */
export async function writeQuantStoreStreaming(
  file: string, layers: (Omit<QuantizedLayer, 'codes' | 'scales' | 'zeros' | 'gIdx'> & { hasGIdx: boolean })[],
  load: (name: string) => Promise<QuantizedLayer>, signal?: AbortSignal,
): Promise<number> {
  const header: HeaderLayer[] = [];
  let offset = 0;
  const span = (length: number): Span => {
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    const s = { offset, length };
    offset += length;
    return s;
  };
  for (const q of layers) {
    const [c, s, z, g] = blobSizes(q);
    header.push({
      name: q.name, rows: q.rows, cols: q.cols, bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric,
      ...(q.sparsity !== undefined ? { sparsity: q.sparsity } : {}),
      codes: span(c!), scales: span(s!), zeros: span(z!), ...(g !== undefined ? { gIdx: span(g) } : {}),
    });
  }
  const json = new TextEncoder().encode(JSON.stringify({ layers: header }));
  const start = Math.ceil((12 + json.length) / ALIGN) * ALIGN;
  const head = new Uint8Array(start);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, json.length, true);
  head.set(json, 12);
  await writeAtomically(file, async (tmp) => {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.write(head, 0, head.length, 0);
      for (const h of header) {
        if (signal?.aborted) throw new CancelledError('writing quant.bin');
        const q = await load(h.name);
        if (q.rows !== h.rows || q.cols !== h.cols || !!q.gIdx !== !!h.gIdx) throw new Error(`layer '${h.name}': its codes changed shape while quant.bin was written`);
        const blobs: [ArrayBufferView, Span][] = [[q.codes, h.codes], [q.scales, h.scales], [q.zeros, h.zeros], ...(q.gIdx && h.gIdx ? [[q.gIdx, h.gIdx] as [ArrayBufferView, Span]] : [])];
        for (const [a, s] of blobs) {
          const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
          if (b.byteLength !== s.length) throw new Error(`layer '${h.name}': ${b.byteLength} bytes for a blob of ${s.length}`);
          await fh.write(b, 0, b.byteLength, start + s.offset);
        }
      }
      // the file ends with the last blob (no padding after it), as writeQuantStore writes it
      await fh.truncate(start + offset);
    } finally {
      await fh.close();
    }
  });
  return start + offset;
}

/** Reads every layer back (copies, so the arrays are aligned and independent of the file buffer). */
export async function readQuantStore(file: string): Promise<QuantizedLayer[]> {
  const buf = new Uint8Array(await fs.readFile(file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 12 || dv.getUint32(0, true) !== MAGIC) throw new Error(`${file}: not a QRecipe quantisation store`);
  if (dv.getUint32(4, true) !== VERSION) throw new Error(`${file}: unsupported version ${dv.getUint32(4, true)}`);
  const len = dv.getUint32(8, true);
  const { layers } = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + len))) as { layers: HeaderLayer[] };
  const start = Math.ceil((12 + len) / ALIGN) * ALIGN;
  const slice = (s: Span): Uint8Array => {
    if (start + s.offset + s.length > buf.byteLength) throw new Error(`${file}: truncated`);
    return buf.slice(start + s.offset, start + s.offset + s.length);
  };
  return layers.map((h) => ({
    name: h.name, rows: h.rows, cols: h.cols, bits: h.bits, groupSize: h.groupSize, symmetric: h.symmetric,
    ...(h.sparsity !== undefined ? { sparsity: h.sparsity } : {}),
    codes: slice(h.codes), scales: new Float32Array(slice(h.scales).buffer), zeros: new Float32Array(slice(h.zeros).buffer),
    ...(h.gIdx ? { gIdx: new Int32Array(slice(h.gIdx).buffer) } : {}),
  }));
}

/** The group of column c. */
export function groupOf(q: QuantizedLayer, c: number): number {
  return q.gIdx ? q.gIdx[c]! : Math.floor(c / q.groupSize);
}

/** The dequantised weights (rows × cols), what fake-quant evaluation uses. */
export function dequantize(q: QuantizedLayer): Float32Array {
  const g = groupsOf(q);
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const k = r * g + groupOf(q, c);
      out[r * q.cols + c] = q.scales[k]! * (q.codes[r * q.cols + c]! - q.zeros[k]!);
    }
  }
  return out;
}
