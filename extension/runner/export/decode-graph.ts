// Writes a compressed layer (engine/extreme/compressed.ts) as a subgraph of standard ONNX ops that
// rebuilds its weight from the stored compact tensors, under the weight's own name, so every node
// that read the weight reads the rebuilt one:
//   vector codes:  Cast(codes uint8/uint16 → int32) (+ codebook offsets) → Gather(codebooks fp16 → float)
//                  → ReduceSum over codebooks → Reshape [rows, cols] → Mul row scales
//   scalar codes:  codes packed b bits a byte (b = 1, 2, 4; 8 as is), unpacked with Div/Floor/Sub
//                  (exact in float, any opset ≥ 7) → Reshape [rows, groups, g] → Sub zeros → Mul scales
//   incoherence:   W = Uᵀ·Ŵ'·V: each Hadamard factor of V (columns) and U (rows) a MatMul by its ±1
//                  matrix (int8, Cast) along its axis, then the sign vectors and 1/√(b_r·b_c)
// then a Transpose / Reshape to the stored layout. Every input of the subgraph is an initializer, so
// onnxruntime folds it into the float weight when the session is created: inference runs as fast as
// the float model; the file holds only the compact tensors. Factor matrices and sign vectors are
// shared by all layers that use them (one tensor each in the file).
import type { LayerInfo } from '../../../language-server/core/model/types';
import { makeNode, type ModelEditor, type NewNode } from '../engine/model/writer';
import { float32ToBytes, dtypeCode } from '../../../language-server/core/model/dtype';
import type { CompressedLayer } from '../engine/extreme/compressed';
import { groupCount } from '../engine/extreme/compressed';
import { paleyMatrix, type Rotation } from '../engine/extreme/hadamard';
import { decodeBits } from '../../../language-server/core/cost/formats';
import { storedFactors } from '../../../language-server/core/cost/rotations';

/** Bytes a decoded layer stores, by part. */
export interface DecodeBytes {
  codes: number;
  /** Codebooks (vector codes). */
  books: number;
  scales: number;
  zeros: number;
  /** Sign vectors and Hadamard factors written for this layer (0 when shared ones already existed; core/cost/rotations counts them once a file). */
  rotations: number;
}

/** The state one export shares between layers: names in use, tensors already written by content. */
export class DecodeWriter {
  private readonly shared = new Map<string, string>();
  private readonly front: NewNode[] = [];

  constructor(readonly editor: ModelEditor, readonly opset: number, private readonly used: Set<string>) {}

  name(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  private node(opType: string, inputs: string[], attributes: NewNode['attributes'] = {}, out?: string): string {
    const o = out ?? this.name(`_d${this.used.size.toString(36)}`);
    this.front.push({ opType, inputs, outputs: [o], attributes });
    return o;
  }

  private tensor(base: string, dtype: string, dims: number[], data: Uint8Array): string {
    const n = this.name(base);
    this.editor.addInitializer(n, dtype, dims, data);
    return n;
  }

  /** A tensor written once per export, keyed by content; returns its name and the bytes it added now. */
  private once(key: string, make: () => { base: string; dtype: string; dims: number[]; data: Uint8Array }): { name: string; bytes: number } {
    const have = this.shared.get(key);
    if (have) return { name: have, bytes: 0 };
    const t = make();
    const name = this.tensor(t.base, t.dtype, t.dims, t.data);
    this.shared.set(key, name);
    return { name, bytes: t.data.byteLength };
  }

  private shape(dims: number[]): string {
    return this.once(`shape:${dims.join(',')}`, () => ({ base: `_shape_${dims.join('x')}`, dtype: 'int64', dims: [dims.length], data: u8(new BigInt64Array(dims.map(BigInt))) })).name;
  }

  private reshape(x: string, dims: number[], out?: string): string {
    return this.node('Reshape', [x, this.shape(dims)], {}, out);
  }

  private scalar(v: number): string {
    return this.once(`f32:${v}`, () => ({ base: '_c', dtype: 'float32', dims: [], data: u8(new Float32Array([v])) })).name;
  }

  private cast(x: string, to: string): string {
    return this.node('Cast', [x], { to: { i: dtypeCode(to) } });
  }

  /** Applies a rotation's transposed Hadamard factors along one axis of a [P·n·Q] tensor; returns the value and bytes added. */
  private hadamardAlong(x: string, rot: Rotation, before: number, after: number): { value: string; bytes: number } {
    const { n, plan } = rot;
    // the factor matrices the cost model counts (core/cost/rotations)
    const factors = storedFactors(plan);
    let value = x;
    let bytes = 0;
    let outer = before * (n / plan.block);
    let inner = plan.block;
    for (const f of factors) {
      inner /= f;
      const m = this.once(`hadamardT:${f}`, () => ({ base: `_hadamardT_${f}`, dtype: 'int8', dims: [f, f], data: hadamardT(f) }));
      bytes += m.bytes;
      const x3 = this.reshape(value, [outer, f, inner * after]);
      value = this.node('MatMul', [this.castOnce(m.name), x3]);
      outer *= f;
    }
    return { value, bytes };
  }

  private readonly casted = new Map<string, string>();
  /** A Cast of a shared int8 matrix to float32, emitted once. */
  private castOnce(name: string): string {
    let c = this.casted.get(name);
    if (!c) { c = this.cast(name, 'float32'); this.casted.set(name, c); }
    return c;
  }

  /** The sign vector of a rotation as float32 values (int8 stored, Cast once). */
  private signs(rot: Rotation): { value: string; bytes: number } {
    const key = `signs:${rot.n}:${signature(rot.signs)}`;
    const t = this.once(key, () => ({ base: `_signs_${rot.n}`, dtype: 'int8', dims: [rot.n], data: u8(rot.signs) }));
    return { value: this.castOnce(t.name), bytes: t.bytes };
  }

  /**
   * Replaces the stored weight of `layer` (its initializer or Constant node) with the decode
   * subgraph of `c`; returns the bytes written by part.
   */
  write(layer: LayerInfo, c: CompressedLayer): DecodeBytes {
    if (layer.rows !== c.rows || layer.cols !== c.cols) throw new Error(`layer '${layer.name}': ${layer.rows}x${layer.cols} in the model, ${c.rows}x${c.cols} compressed`);
    const { rows, cols } = c;
    const base = layer.tensorName;
    const parts: DecodeBytes = { codes: 0, books: 0, scales: 0, zeros: 0, rotations: 0 };
    const b = c.body;
    let w: string;
    if (b.kind === 'vector') {
      const { dim: g, codebooks: M } = b;
      const K = 1 << b.bits;
      const G = cols / g;
      const wide = b.bits > 8;
      const codes = this.tensor(`${base}_codes`, wide ? 'uint16' : 'uint8', [rows * G, M], u8(b.codes));
      parts.codes = b.codes.byteLength;
      let idx = this.cast(codes, 'int32');
      if (M > 1) {
        const off = this.tensor(`${base}_book_offsets`, 'int32', [M], u8(Int32Array.from({ length: M }, (_, m) => m * K)));
        parts.books += 4 * M;
        idx = this.node('Add', [idx, off]);
      }
      const booksData = float32ToBytes(dtypeCode('float16'), b.books);
      const books = this.tensor(`${base}_codebooks`, 'float16', [M * K, g], booksData);
      parts.books += booksData.byteLength;
      const gathered = this.node('Gather', [this.cast(books, 'float32'), idx], { axis: { i: 0 } });
      const summed = M > 1
        ? (this.opset >= 13
          ? this.node('ReduceSum', [gathered, this.once('axes:1', () => ({ base: '_axes_1', dtype: 'int64', dims: [1], data: u8(new BigInt64Array([1n])) })).name], { keepdims: { i: 0 } })
          : this.node('ReduceSum', [gathered], { axes: { ints: [1] }, keepdims: { i: 0 } }))
        : gathered;
      const flat = this.reshape(summed, [rows, cols]);
      if (b.scales.every((s) => s === 1)) w = flat; // no row scales (rowscales false): nothing stored
      else {
        const sData = float32ToBytes(dtypeCode('float16'), b.scales);
        const scales = this.tensor(`${base}_scales`, 'float16', [rows, 1], sData);
        parts.scales = sData.byteLength;
        w = this.node('Mul', [flat, this.cast(scales, 'float32')]);
      }
    } else {
      const G = groupCount(b, cols);
      const gs = b.groupSize;
      if (G * gs !== cols) throw new Error(`layer '${layer.name}': groups of ${gs} do not tile its ${cols} columns`);
      const pb = decodeBits(b.bits);
      const n = rows * cols;
      const per = 8 / pb;
      if (pb < 8 && n % per !== 0) throw new Error(`layer '${layer.name}': ${n} codes do not fill whole bytes at ${pb} bits`);
      const packed = pack(b.codes, pb);
      const codes = this.tensor(`${base}_codes`, 'uint8', [packed.length], packed);
      parts.codes = packed.byteLength;
      let q: string;
      if (pb === 8) q = this.cast(codes, 'float32');
      else {
        // code k of a byte x: floor(x / 2^(k·pb)) − 2^pb · floor(x / 2^((k+1)·pb))
        const x = this.reshape(this.cast(codes, 'float32'), [n / per, 1]);
        const div = this.once(`packdiv:${pb}`, () => ({ base: `_pack_div_${pb}`, dtype: 'float32', dims: [1, per], data: u8(Float32Array.from({ length: per }, (_, k) => 2 ** (k * pb))) })).name;
        const div2 = this.once(`packdiv2:${pb}`, () => ({ base: `_pack_div2_${pb}`, dtype: 'float32', dims: [1, per], data: u8(Float32Array.from({ length: per }, (_, k) => 2 ** ((k + 1) * pb))) })).name;
        const lo = this.node('Floor', [this.node('Div', [x, div])]);
        const hi = this.node('Floor', [this.node('Div', [x, div2])]);
        q = this.node('Sub', [lo, this.node('Mul', [hi, this.scalar(2 ** pb)])]);
      }
      const q3 = this.reshape(q, [rows, G, gs]);
      const zData = Uint8Array.from(b.zeros, (z) => Math.round(z));
      if (zData.some((z, i) => z !== b.zeros[i])) throw new Error(`layer '${layer.name}': zero points are not integers`);
      const sData = float32ToBytes(dtypeCode('float16'), b.scales);
      const zeros = this.tensor(`${base}_zeros`, 'uint8', [rows, G, 1], zData);
      const scales = this.tensor(`${base}_scales`, 'float16', [rows, G, 1], sData);
      parts.zeros = zData.byteLength;
      parts.scales = sData.byteLength;
      const centred = this.node('Sub', [q3, this.cast(zeros, 'float32')]);
      w = this.reshape(this.node('Mul', [centred, this.cast(scales, 'float32')]), [rows, cols]);
    }
    const inc = c.incoherence;
    if (inc) {
      let norm = 1;
      if (inc.in) {
        // Ŵ'·V = (Ŵ'·B_c)·D_c: Bᵀ factors along the column axis
        const h = this.hadamardAlong(w, inc.in, rows, 1);
        const s = this.signs(inc.in);
        parts.rotations += h.bytes + s.bytes;
        w = this.node('Mul', [this.reshape(h.value, [rows, cols]), s.value]);
        norm /= Math.sqrt(inc.in.plan.block);
      }
      if (inc.out) {
        // Uᵀ·A = D_r·(B_rᵀ·A): Bᵀ factors along the row axis, then the row signs
        const h = this.hadamardAlong(w, inc.out, 1, cols);
        const s = this.signs(inc.out);
        parts.rotations += h.bytes + s.bytes;
        w = this.node('Mul', [this.reshape(h.value, [rows, cols]), this.reshape(s.value, [rows, 1])]);
        norm /= Math.sqrt(inc.out.plan.block);
      }
      if (norm !== 1) w = this.node('Mul', [w, this.scalar(norm)]);
    }
    // the stored layout and type, under the weight's own name
    const dims = layer.shape;
    const target = layer.dtype === 'float32' ? undefined : layer.dtype;
    let out = layer.transposed ? this.node('Transpose', [w], { perm: { ints: [1, 0] } }) : w;
    if (dims.length !== 2) out = this.reshape(out, dims);
    if (target) out = this.cast(out, target);
    this.removeStored(layer.tensorName);
    this.front.push({ opType: 'Identity', inputs: [out], outputs: [layer.tensorName], name: this.name(`${base}_decoded`) });
    return parts;
  }

  private removeStored(name: string): void {
    if (this.editor.removeInitializer(name)) return;
    const g = this.editor.graph;
    const at = g.node.findIndex((n) => n.opType === 'Constant' && n.output?.[0] === name);
    if (at < 0) throw new Error(`no stored tensor '${name}' to replace`);
    g.node.splice(at, 1);
  }

  /** Puts the decode nodes at the front of the graph (they read only initializers). */
  finish(): void {
    this.editor.graph.node.unshift(...this.front.map(makeNode));
    this.front.length = 0;
  }
}

const u8 = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A short content key of a sign vector. */
function signature(s: Int8Array): string {
  let h = 0x811c9dc5;
  for (const v of s) h = Math.imul(h ^ (v & 0xff), 0x01000193);
  return (h >>> 0).toString(36);
}

/** Codes of `bits` ≤ 8 packed low bits first, 8/bits to a byte. */
export function pack(codes: Uint8Array, bits: number): Uint8Array {
  if (bits === 8) return codes;
  const per = 8 / bits;
  const out = new Uint8Array(Math.ceil(codes.length / per));
  for (let i = 0; i < codes.length; i++) out[(i / per) | 0]! |= codes[i]! << ((i % per) * bits);
  return out;
}

/** The transpose of a Hadamard factor (Sylvester powers of two, else Paley) as int8 ±1. */
function hadamardT(f: number): Uint8Array {
  const out = new Int8Array(f * f);
  if ((f & (f - 1)) === 0) {
    for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) out[i * f + j] = popcount(i & j) % 2 ? -1 : 1;
  } else {
    const H = paleyMatrix(f);
    for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) out[i * f + j] = H[j * f + i]!;
  }
  return u8(out);
}

function popcount(x: number): number {
  let c = 0;
  while (x) { c += x & 1; x >>>= 1; }
  return c;
}
