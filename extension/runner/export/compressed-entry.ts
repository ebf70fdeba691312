// Layers compressed in a form of their own (issue #23: vector codes with codebooks and row scales,
// or the scalar codes of a rotated layer, with the incoherence rotations' sign vectors) as entries
// of the run's stores: the form without its arrays (CompressedMeta, what sizes, layouts and the
// quant.bin header need), its arrays in one fixed order (what the WeightStore spills and quant.bin
// stores), their byte sizes from the meta alone, and the checks an entry read from quant.bin passes
// (a file of a run folder, so untrusted: a damaged entry is a located error, never a RangeError,
// a huge allocation or a code out of its codebook).
import type { CompressedLayer } from '../engine/extreme/compressed';
import { Rotation } from '../engine/extreme/hadamard';
import type { Incoherence } from '../engine/extreme/incoherence';

/** The version of the quant.bin entry written for these layers (a newer one is refused by name). */
export const COMPRESSED_ENTRY_VERSION = 1;

export type CompressedBodyMeta =
  | { kind: 'vector'; dim: number; codebooks: number; bits: number; rowScales: boolean }
  | { kind: 'scalar'; bits: number; groupSize: number; symmetric: boolean };

/** A compressed layer without its arrays; the rotations (a sign vector of n bytes a side) are kept whole. */
export interface CompressedMeta {
  name: string;
  rows: number;
  cols: number;
  body: CompressedBodyMeta;
  incoherence?: Incoherence;
}

export function compressedMeta(c: CompressedLayer): CompressedMeta {
  const b = c.body;
  const body: CompressedBodyMeta = b.kind === 'vector'
    ? { kind: 'vector', dim: b.dim, codebooks: b.codebooks, bits: b.bits, rowScales: !b.scales.every((s) => s === 1) }
    : { kind: 'scalar', bits: b.bits, groupSize: b.groupSize, symmetric: b.symmetric };
  return { name: c.name, rows: c.rows, cols: c.cols, body, ...(c.incoherence ? { incoherence: c.incoherence } : {}) };
}

/** The arrays of a layer in the stores' order: codes, scales, then codebooks (vector) or zero points (scalar). */
export function compressedArrays(c: CompressedLayer): ArrayBufferView[] {
  const b = c.body;
  return [b.codes, b.scales, b.kind === 'vector' ? b.books : b.zeros];
}

/** Bytes of each array of `compressedArrays`, from the shape alone. */
export function compressedSizes(m: Pick<CompressedMeta, 'rows' | 'cols' | 'body'>): [number, number, number] {
  const b = m.body;
  if (b.kind === 'vector') {
    const codeBytes = b.bits <= 8 ? 1 : 2;
    return [m.rows * (m.cols / b.dim) * b.codebooks * codeBytes, 4 * m.rows, 4 * b.codebooks * 2 ** b.bits * b.dim];
  }
  const g = m.rows * Math.ceil(m.cols / b.groupSize);
  return [m.rows * m.cols, 4 * g, 4 * g];
}

const f32 = (b: Uint8Array): Float32Array => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);

/** The layer from its meta and arrays (views of `blobs`, which must be 4-byte aligned and of `compressedSizes`). */
export function compressedFromArrays(m: CompressedMeta, blobs: Uint8Array[]): CompressedLayer {
  const [codes, scales, third] = blobs as [Uint8Array, Uint8Array, Uint8Array];
  const b = m.body;
  const inc = m.incoherence ? { incoherence: m.incoherence } : {};
  if (b.kind === 'vector') {
    const c = b.bits <= 8 ? codes : new Uint16Array(codes.buffer, codes.byteOffset, codes.byteLength / 2);
    return { name: m.name, rows: m.rows, cols: m.cols, body: { kind: 'vector', rows: m.rows, cols: m.cols, dim: b.dim, codebooks: b.codebooks, bits: b.bits, codes: c, books: f32(third), scales: f32(scales) }, ...inc };
  }
  return { name: m.name, rows: m.rows, cols: m.cols, body: { kind: 'scalar', bits: b.bits, groupSize: b.groupSize, symmetric: b.symmetric, codes, scales: f32(scales), zeros: f32(third) }, ...inc };
}

/** A byte range of quant.bin's data area. */
export interface StoreSpan { offset: number; length: number }

/** A rotation side in quant.bin's header: its size and its int8 sign vector. */
export interface HeaderRotation { n: number; signs: StoreSpan }

/** The quant.bin header entry of one compressed layer. */
export type HeaderCompressed = {
  version: number; name: string; rows: number; cols: number; codes: StoreSpan; scales: StoreSpan;
  rotations?: { out?: HeaderRotation; in?: HeaderRotation };
} & ({ form: 'vector'; dim: number; codebooks: number; bits: number; books: StoreSpan } | { form: 'scalar'; bits: number; groupSize: number; symmetric: boolean; zeros: StoreSpan });

/** The header entry of a layer, with `span(bytes)` giving each array's place in the file, in the arrays' order. */
export function headerEntry(m: CompressedMeta, span: (bytes: number) => StoreSpan): HeaderCompressed {
  const [codes, scales, third] = compressedSizes(m).map(span) as [StoreSpan, StoreSpan, StoreSpan];
  const side = (r?: Rotation): HeaderRotation | undefined => (r ? { n: r.n, signs: span(r.n) } : undefined);
  const out = side(m.incoherence?.out);
  const inn = side(m.incoherence?.in);
  const rotations = out || inn ? { rotations: { ...(out ? { out } : {}), ...(inn ? { in: inn } : {}) } } : {};
  const head = { version: COMPRESSED_ENTRY_VERSION, name: m.name, rows: m.rows, cols: m.cols, codes, scales };
  const b = m.body;
  return b.kind === 'vector'
    ? { ...head, form: 'vector', dim: b.dim, codebooks: b.codebooks, bits: b.bits, books: third, ...rotations }
    : { ...head, form: 'scalar', bits: b.bits, groupSize: b.groupSize, symmetric: b.symmetric, zeros: third, ...rotations };
}

/** The arrays of a layer in the order `headerEntry` placed them (sign vectors last: out, then in). */
export function entryArrays(c: CompressedLayer): ArrayBufferView[] {
  return [...compressedArrays(c), ...(c.incoherence?.out ? [c.incoherence.out.signs] : []), ...(c.incoherence?.in ? [c.incoherence.in.signs] : [])];
}

/** The spans of an entry in the order of `entryArrays`. */
export function entrySpans(h: HeaderCompressed): StoreSpan[] {
  return [h.codes, h.scales, h.form === 'vector' ? h.books : h.zeros, ...(h.rotations?.out ? [h.rotations.out.signs] : []), ...(h.rotations?.in ? [h.rotations.in.signs] : [])];
}

/** The largest finite float16 value. */
const HALF_MAX = 65504;

const whole = (x: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean => Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max;

/**
 * Checks the i-th compressed entry of quant.bin's header (every field before it is used; spans of
 * the sizes the shape needs, inside the `end` bytes of the data area). `bad` throws the located error.
 */
export function checkHeaderEntry(h: unknown, i: number, end: number, bad: (why: string) => never): HeaderCompressed {
  if (typeof h !== 'object' || h === null) bad(`compressed entry ${i} is not a layer`);
  const l = h as Record<string, unknown>;
  const what = typeof l.name === 'string' ? `layer '${l.name}'` : bad(`compressed entry ${i} has no name`);
  if (!whole(l.version, 1)) bad(`${what}: entry version ${String(l.version)}`);
  if ((l.version as number) > COMPRESSED_ENTRY_VERSION) bad(`${what}: its entry is version ${String(l.version)}, written by a newer QRecipe (this one reads up to ${COMPRESSED_ENTRY_VERSION})`);
  if (!whole(l.rows, 1) || !whole(l.cols, 1)) bad(`${what}: rows ${String(l.rows)} and cols ${String(l.cols)} must be whole positive numbers`);
  const rows = l.rows as number;
  const cols = l.cols as number;
  let body: CompressedBodyMeta;
  if (l.form === 'vector') {
    // the recipe language's ranges: dim 1–64, codebooks 1–8, codebits 1–16
    if (!whole(l.dim, 1, 64) || cols % (l.dim as number) !== 0) bad(`${what}: vector size ${String(l.dim)} does not tile its ${cols} columns`);
    if (!whole(l.codebooks, 1, 8) || !whole(l.bits, 1, 16)) bad(`${what}: ${String(l.codebooks)} codebooks of ${String(l.bits)} bits`);
    body = { kind: 'vector', dim: l.dim as number, codebooks: l.codebooks as number, bits: l.bits as number, rowScales: true };
  } else if (l.form === 'scalar') {
    if (!whole(l.bits, 1, 8)) bad(`${what}: ${String(l.bits)} bits`);
    if (!whole(l.groupSize, 1, cols)) bad(`${what}: group size ${String(l.groupSize)} for ${cols} columns`);
    if (typeof l.symmetric !== 'boolean') bad(`${what}: symmetric is not true or false`);
    body = { kind: 'scalar', bits: l.bits as number, groupSize: l.groupSize as number, symmetric: l.symmetric as boolean };
  } else {
    return bad(`${what}: unknown form ${JSON.stringify(l.form)}`);
  }
  const spanOf = (k: string, s: unknown, length: number): void => {
    const x = s as Partial<StoreSpan> | null;
    if (typeof x !== 'object' || x === null || !whole(x.offset, 0) || x.length !== length) bad(`${what}: its ${k} span does not hold ${length} bytes`);
    if (x!.offset! + length > end) bad(`${what}: its ${k} lie past the end of the file (truncated)`);
  };
  const [codes, scales, third] = compressedSizes({ rows, cols, body });
  spanOf('codes', l.codes, codes);
  spanOf('scales', l.scales, scales);
  spanOf(body.kind === 'vector' ? 'codebooks' : 'zeros', body.kind === 'vector' ? l.books : l.zeros, third);
  const r = l.rotations as Record<string, Record<string, unknown> | undefined> | undefined;
  if (r !== undefined && (typeof r !== 'object' || r === null)) bad(`${what}: its rotations are not a record`);
  for (const [side, n] of [['out', rows], ['in', cols]] as const) {
    const x = r?.[side];
    if (x === undefined) continue;
    if (typeof x !== 'object' || x === null || x.n !== n) bad(`${what}: its ${side === 'out' ? 'row' : 'column'} rotation is not of size ${n}`);
    spanOf(`${side === 'out' ? 'row' : 'column'} signs`, x!.signs, n);
  }
  return h as HeaderCompressed;
}

/**
 * The layer from a checked header entry and its arrays (aligned copies, in `entrySpans` order):
 * codes inside their codebook or grid, scales and codebooks float16 values, zero points whole
 * numbers 0–255, signs ±1 on a size that has a Hadamard block (a rotation that would not mix was never written).
 */
export function compressedFromEntry(h: HeaderCompressed, blobs: Uint8Array[], bad: (why: string) => never): CompressedLayer {
  const what = `layer '${h.name}'`;
  const rotation = (side: 'out' | 'in', k: number): Rotation | undefined => {
    const x = h.rotations?.[side];
    if (!x) return undefined;
    const signs = new Int8Array(blobs[k]!.buffer, blobs[k]!.byteOffset, x.n);
    for (let i = 0; i < x.n; i++) if (signs[i] !== 1 && signs[i] !== -1) bad(`${what}: sign ${i} of its ${side === 'out' ? 'row' : 'column'} rotation is ${signs[i]}`);
    const rot = new Rotation(x.n, signs);
    if (!rot.mixes) bad(`${what}: its ${side === 'out' ? 'row' : 'column'} rotation of size ${x.n} has no Hadamard block`);
    return rot;
  };
  let k = 3;
  const out = rotation('out', h.rotations?.out ? k++ : -1);
  const inn = rotation('in', h.rotations?.in ? k++ : -1);
  const incoherence = out || inn ? { ...(out ? { out } : {}), ...(inn ? { in: inn } : {}) } : undefined;
  const body: CompressedBodyMeta = h.form === 'vector'
    ? { kind: 'vector', dim: h.dim, codebooks: h.codebooks, bits: h.bits, rowScales: true }
    : { kind: 'scalar', bits: h.bits, groupSize: h.groupSize, symmetric: h.symmetric };
  const c = compressedFromArrays({ name: h.name, rows: h.rows, cols: h.cols, body, ...(incoherence ? { incoherence } : {}) }, blobs);
  const b = c.body;
  const limit = 2 ** b.bits;
  for (let i = 0; i < b.codes.length; i++) if (b.codes[i]! >= limit) bad(`${what}: code ${i} is ${b.codes[i]}, past ${limit - 1}`);
  // scales and codebooks are float16 values (the runner rounds them as the export stores them), zero
  // points whole numbers 0–255 (onnx-decode stores them as uint8): nothing a decode can overflow
  const half = (name: string, a: Float32Array): void => {
    for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]!) <= HALF_MAX)) bad(`${what}: its ${name} hold ${a[i]} (at ${i}), not a float16 value`);
  };
  half('scales', b.scales);
  if (b.kind === 'vector') half('codebooks', b.books);
  else for (let i = 0; i < b.zeros.length; i++) if (!Number.isInteger(b.zeros[i]) || b.zeros[i]! < 0 || b.zeros[i]! > 255) bad(`${what}: its zero point ${i} is ${b.zeros[i]}, not a whole number 0–255`);
  return c;
}

/** Compressed layers loaded one at a time (from the WeightStore, or read from quant.bin). */
export interface CompressedSource {
  metas: readonly CompressedMeta[];
  load(name: string): Promise<CompressedLayer>;
}

/** A source over layers held in memory. */
export function compressedSourceOf(layers: readonly CompressedLayer[]): CompressedSource {
  const byName = new Map(layers.map((c) => [c.name, c]));
  return { metas: layers.map(compressedMeta), load: async (n) => byName.get(n)! };
}
