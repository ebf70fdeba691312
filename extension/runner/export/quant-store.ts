// `quant.bin`: the integer codes, scales and zero points of every quantised layer of a run, so that
// `qrecipe export RUN` can write packed formats later without redoing the quantisation.
// Layout: "QRQB", u32 version, u32 header length, JSON header, then 64-byte-aligned blobs
// (codes uint8 rows×cols, scales float32 rows×groups, zeros float32 rows×groups, gIdx int32 cols,
// outliers as CSR: row pointers int32 rows+1, columns int32 nnz, fp16 values uint16 nnz).
// Version 3 adds `compressed`: layers in a form of their own (vector codes, rotated layers; their
// entry and checks in export/compressed-entry.ts); a store without such layers is written as
// version 2. Version 1 files (no outliers) and version 2 files are read as well.
import { promises as fs } from 'node:fs';
import { writeAtomically } from '../../../language-server/core/util/atomic';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { readRegularFile, RefusedFileError } from '../../../language-server/core/util/regular-file';
import { MAX_QUANT_STORE_BYTES } from '../../../language-server/core/util/limits';
import { halfToFloat } from '../../../language-server/core/model/dtype';
import type { CompressedLayer } from '../engine/extreme/compressed';
import {
  checkHeaderEntry, compressedFromEntry, compressedSourceOf, entryArrays, entrySpans, headerEntry,
  type CompressedSource, type HeaderCompressed,
} from './compressed-entry';

/**
 * The quantised form of one layer: W ≈ scale[r][g(c)] · (codes[r][c] − zero[r][g(c)]), plus the fp16
 * outliers where there are some (their codes are the code of 0, so the two parts add up).
 */
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
  /** Outliers kept in fp16 beside the codes (CSR, columns ascending within a row). */
  outliers?: OutlierCsr;
}

/** Sparse fp16 outliers of a layer (rows + 1 row pointers, column indices, IEEE half bits). */
export interface OutlierCsr {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  values: Uint16Array;
}

const MAGIC = 0x42515251; // "QRQB" little-endian
const VERSION = 3;
/** The version written when no layer has a form of its own (readable by QRecipe before version 3). */
const SCALAR_VERSION = 2;
const ALIGN = 64;

interface Span { offset: number; length: number }
interface HeaderLayer {
  name: string; rows: number; cols: number; bits: number; groupSize: number; symmetric: boolean; sparsity?: number;
  codes: Span; scales: Span; zeros: Span; gIdx?: Span; outliers?: { rowPtr: Span; colIdx: Span; values: Span };
}

export function groupsOf(q: Pick<QuantizedLayer, 'cols' | 'groupSize'>): number {
  return Math.ceil(q.cols / q.groupSize);
}

/** Writes all layers atomically (and the layers compressed in a form of their own). */
export async function writeQuantStore(file: string, layers: QuantizedLayer[], compressed: CompressedLayer[] = []): Promise<number> {
  const byName = new Map(layers.map((q) => [q.name, q]));
  return writeQuantStoreStreaming(file, layers.map(quantMeta), async (n) => byName.get(n)!, undefined, compressedSourceOf(compressed));
}

/** A quantised layer without its arrays (what sizes, checks and the streaming writer need). */
export type QuantMeta = Omit<QuantizedLayer, 'codes' | 'scales' | 'zeros' | 'gIdx' | 'outliers'> & {
  hasGIdx: boolean;
  /** Number of fp16 outliers kept with the codes (0: none). */
  outlierCount: number;
};

/** The meta of a quantised layer. */
export function quantMeta(q: QuantizedLayer): QuantMeta {
  const { codes: _c, scales: _s, zeros: _z, gIdx, outliers, ...rest } = q;
  return { ...rest, hasGIdx: !!gIdx, outlierCount: outliers?.values.length ?? 0 };
}

/** The arrays' byte sizes of a layer (codes, scales, zeros, gIdx?, then outliers' row pointers, columns, values?). */
function blobSizes(q: QuantMeta): { codes: number; scales: number; zeros: number; gIdx?: number; outliers?: [number, number, number] } {
  const g = q.rows * groupsOf(q);
  return {
    codes: q.rows * q.cols, scales: 4 * g, zeros: 4 * g, ...(q.hasGIdx ? { gIdx: 4 * q.cols } : {}),
    ...(q.outlierCount ? { outliers: [4 * (q.rows + 1), 4 * q.outlierCount, 2 * q.outlierCount] as [number, number, number] } : {}),
  };
}

/**
 * Writes the store atomically one layer at a time: the header is made from the layers' shapes,
 * then each layer is loaded (`load`), written at its offsets and dropped, so the codes of every
 * layer are never in memory at once. Same bytes as writeQuantStore.
 */
export async function writeQuantStoreStreaming(
  file: string, layers: QuantMeta[],
  load: (name: string) => Promise<QuantizedLayer>, signal?: AbortSignal, own?: CompressedSource,
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
    const b = blobSizes(q);
    header.push({
      name: q.name, rows: q.rows, cols: q.cols, bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric,
      ...(q.sparsity !== undefined ? { sparsity: q.sparsity } : {}),
      codes: span(b.codes), scales: span(b.scales), zeros: span(b.zeros), ...(b.gIdx !== undefined ? { gIdx: span(b.gIdx) } : {}),
      ...(b.outliers ? { outliers: { rowPtr: span(b.outliers[0]), colIdx: span(b.outliers[1]), values: span(b.outliers[2]) } } : {}),
    });
  }
  const compressed = (own?.metas ?? []).map((m) => headerEntry(m, span));
  const json = new TextEncoder().encode(JSON.stringify({ layers: header, ...(compressed.length ? { compressed } : {}) }));
  const start = Math.ceil((12 + json.length) / ALIGN) * ALIGN;
  const head = new Uint8Array(start);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, compressed.length ? VERSION : SCALAR_VERSION, true);
  dv.setUint32(8, json.length, true);
  head.set(json, 12);
  await writeAtomically(file, async (tmp) => {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.write(head, 0, head.length, 0);
      for (const h of header) {
        if (signal?.aborted) throw new CancelledError('writing quant.bin');
        const q = await load(h.name);
        if (q.rows !== h.rows || q.cols !== h.cols || !!q.gIdx !== !!h.gIdx || !!q.outliers !== !!h.outliers) throw new Error(`layer '${h.name}': its codes changed shape while quant.bin was written`);
        const blobs: [ArrayBufferView, Span][] = [[q.codes, h.codes], [q.scales, h.scales], [q.zeros, h.zeros]];
        if (q.gIdx && h.gIdx) blobs.push([q.gIdx, h.gIdx]);
        if (q.outliers && h.outliers) blobs.push([q.outliers.rowPtr, h.outliers.rowPtr], [q.outliers.colIdx, h.outliers.colIdx], [q.outliers.values, h.outliers.values]);
        for (const [a, s] of blobs) {
          const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
          if (b.byteLength !== s.length) throw new Error(`layer '${h.name}': ${b.byteLength} bytes for a blob of ${s.length}`);
          await fh.write(b, 0, b.byteLength, start + s.offset);
        }
      }
      for (const h of compressed) {
        if (signal?.aborted) throw new CancelledError('writing quant.bin');
        const c = await own!.load(h.name);
        const spans = entrySpans(h);
        const arrays = entryArrays(c);
        if (c.rows !== h.rows || c.cols !== h.cols || arrays.length !== spans.length) throw new Error(`layer '${h.name}': its compressed form changed shape while quant.bin was written`);
        for (let k = 0; k < spans.length; k++) {
          const a = arrays[k]!;
          const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
          if (b.byteLength !== spans[k]!.length) throw new Error(`layer '${h.name}': ${b.byteLength} bytes for a blob of ${spans[k]!.length}`);
          await fh.write(b, 0, b.byteLength, start + spans[k]!.offset);
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

/**
 * The header's layers, every field checked before it is used: quant.bin is a file of a run folder,
 * so untrusted (a copied or crafted run): lengths that are not whole numbers, spans past the end or
 * of the wrong size for the shape, a group index out of range are a located error, never a
 * RangeError, a huge allocation or weights read as NaN.
 */
function headerLayers(file: string, json: string, end: number, version: number): { layers: HeaderLayer[]; compressed: HeaderCompressed[] } {
  const bad = (why: string): never => { throw new Error(`${file}: damaged quantisation store: ${why}`); };
  let v: unknown;
  try { v = JSON.parse(json); } catch { bad('its header is not JSON'); }
  const layers = (v as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) return bad('its header lists no layers');
  const whole = (x: unknown, min: number): boolean => Number.isSafeInteger(x) && (x as number) >= min;
  layers.forEach((h: unknown, i) => {
    if (typeof h !== 'object' || h === null) bad(`entry ${i} is not a layer`);
    const l = h as Record<string, unknown>;
    const what = typeof l.name === 'string' ? `layer '${l.name}'` : bad(`entry ${i} has no name`);
    if (!whole(l.rows, 1) || !whole(l.cols, 1)) bad(`${what}: rows ${String(l.rows)} and cols ${String(l.cols)} must be whole positive numbers`);
    if (!whole(l.bits, 1) || (l.bits as number) > 8) bad(`${what}: ${String(l.bits)} bits`);
    if (!whole(l.groupSize, 1)) bad(`${what}: group size ${String(l.groupSize)}`);
    if (typeof l.symmetric !== 'boolean' || (l.sparsity !== undefined && typeof l.sparsity !== 'number')) bad(`${what}: symmetric or sparsity of the wrong type`);
    const o = l.outliers as Record<string, Partial<Span> | undefined> | undefined;
    if (o !== undefined && (typeof o !== 'object' || o === null)) bad(`${what}: its outliers are not a record`);
    const spanOf = (k: string, s: Partial<Span> | undefined, length?: number): void => {
      if (typeof s !== 'object' || s === null || !whole(s.offset, 0) || !whole(s.length, 0) || (length !== undefined && s.length !== length)) bad(`${what}: its ${k} span ${length !== undefined ? `does not hold ${length} bytes` : 'is not whole numbers'}`);
      if (s!.offset! + s!.length! > end) bad(`${what}: its ${k} lie past the end of the file (truncated)`);
    };
    // the outliers' count is what their value span holds (checked against the row pointers on read)
    if (o) spanOf('outlier values', o.values);
    const count = o ? (o.values!.length as number) / 2 : 0;
    if (!Number.isSafeInteger(count)) bad(`${what}: an odd number of bytes of fp16 outliers`);
    const sizes = blobSizes({
      name: String(l.name), rows: l.rows as number, cols: l.cols as number, bits: l.bits as number, groupSize: l.groupSize as number,
      symmetric: l.symmetric as boolean, hasGIdx: l.gIdx !== undefined, outlierCount: count,
    });
    spanOf('codes', l.codes as Partial<Span>, sizes.codes);
    spanOf('scales', l.scales as Partial<Span>, sizes.scales);
    spanOf('zeros', l.zeros as Partial<Span>, sizes.zeros);
    if (sizes.gIdx !== undefined) spanOf('group indices', l.gIdx as Partial<Span>, sizes.gIdx);
    if (o) {
      spanOf('outlier row pointers', o.rowPtr, 4 * ((l.rows as number) + 1));
      spanOf('outlier columns', o.colIdx, 4 * count);
    }
  });
  // version 3: the layers in a form of their own (an older file has none)
  const own = version >= 3 ? (v as { compressed?: unknown }).compressed ?? [] : [];
  if (!Array.isArray(own)) bad('its compressed layers are not a list');
  const compressed = (own as unknown[]).map((h, i) => checkHeaderEntry(h, i, end, bad));
  return { layers: layers as HeaderLayer[], compressed };
}

/** Reads every scalar quantised layer back (copies, so the arrays are aligned and independent of the file buffer). */
export async function readQuantStore(file: string): Promise<QuantizedLayer[]> {
  return (await readQuantStoreAll(file)).layers;
}

/** Every layer of the store: the scalar quantised ones and those compressed in a form of their own (version 3). */
export async function readQuantStoreAll(file: string): Promise<{ layers: QuantizedLayer[]; compressed: CompressedLayer[] }> {
  let buf: Uint8Array;
  try {
    buf = await readRegularFile(file, MAX_QUANT_STORE_BYTES, 'quantisation store');
  } catch (err) {
    if (err instanceof RefusedFileError) throw new Error(`${file}: ${err.reason}`);
    throw err;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 12 || dv.getUint32(0, true) !== MAGIC) throw new Error(`${file}: not a QRecipe quantisation store`);
  const version = dv.getUint32(4, true);
  if (version < 1 || version > VERSION) throw new Error(`${file}: unsupported version ${version}`);
  const len = dv.getUint32(8, true);
  if (12 + len > buf.byteLength) throw new Error(`${file}: damaged quantisation store: its header runs past the end of the file`);
  const start = Math.ceil((12 + len) / ALIGN) * ALIGN;
  const header = headerLayers(file, new TextDecoder().decode(buf.subarray(12, 12 + len)), buf.byteLength - start, version);
  const slice = (s: Span): Uint8Array => buf.slice(start + s.offset, start + s.offset + s.length);
  const damaged = (h: HeaderLayer, why: string): never => { throw new Error(`${file}: damaged quantisation store: layer '${h.name}': ${why}`); };
  const layers = header.layers.map((h) => {
    const q: QuantizedLayer = {
      name: h.name, rows: h.rows, cols: h.cols, bits: h.bits, groupSize: h.groupSize, symmetric: h.symmetric,
      ...(h.sparsity !== undefined ? { sparsity: h.sparsity } : {}),
      codes: slice(h.codes), scales: new Float32Array(slice(h.scales).buffer), zeros: new Float32Array(slice(h.zeros).buffer),
      ...(h.gIdx ? { gIdx: new Int32Array(slice(h.gIdx).buffer) } : {}),
      ...(h.outliers ? {
        outliers: {
          rowPtr: new Int32Array(slice(h.outliers.rowPtr).buffer), colIdx: new Int32Array(slice(h.outliers.colIdx).buffer),
          values: new Uint16Array(slice(h.outliers.values).buffer),
        },
      } : {}),
    };
    const groups = groupsOf(q);
    for (const [k, a] of [['scales', q.scales], ['zeros', q.zeros]] as const) {
      for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) damaged(h, `its ${k} hold ${a[i]} (row ${Math.floor(i / groups)})`);
    }
    if (q.gIdx) for (let c = 0; c < q.cols; c++) if (!(q.gIdx[c]! >= 0 && q.gIdx[c]! < groups)) damaged(h, `column ${c} is in group ${q.gIdx[c]}, of ${groups}`);
    const o = q.outliers;
    if (o) {
      // row pointers from 0 to the count, never decreasing; columns inside the row
      if (o.rowPtr[0] !== 0 || o.rowPtr[q.rows] !== o.values.length) damaged(h, `its outlier row pointers do not run from 0 to ${o.values.length}`);
      for (let k = 0; k < o.values.length; k++) if ((o.values[k]! & 0x7c00) === 0x7c00) damaged(h, `outlier ${k} is not a finite fp16 value`);
      for (let r = 0; r < q.rows; r++) {
        if (o.rowPtr[r + 1]! < o.rowPtr[r]!) damaged(h, `its outlier row pointers decrease at row ${r}`);
        for (let k = o.rowPtr[r]!; k < o.rowPtr[r + 1]!; k++) if (!(o.colIdx[k]! >= 0 && o.colIdx[k]! < q.cols)) damaged(h, `outlier ${k} is in column ${o.colIdx[k]}, of ${q.cols}`);
      }
    }
    return q;
  });
  const compressed = header.compressed.map((h) => compressedFromEntry(h, entrySpans(h).map(slice), (why) => { throw new Error(`${file}: damaged quantisation store: ${why}`); }));
  return { layers, compressed };
}

/** The group of column c. */
export function groupOf(q: QuantizedLayer, c: number): number {
  return q.gIdx ? q.gIdx[c]! : Math.floor(c / q.groupSize);
}

/** The dequantised weights (rows × cols) with the outliers added, what fake-quant evaluation uses. */
export function dequantize(q: QuantizedLayer): Float32Array {
  const g = groupsOf(q);
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const k = r * g + groupOf(q, c);
      out[r * q.cols + c] = q.scales[k]! * (q.codes[r * q.cols + c]! - q.zeros[k]!);
    }
  }
  const o = q.outliers;
  if (o) for (let r = 0; r < q.rows; r++) for (let k = o.rowPtr[r]!; k < o.rowPtr[r + 1]!; k++) out[r * q.cols + o.colIdx[k]!] += halfToFloat(o.values[k]!);
  return out;
}
