// The weights a run's stages changed, in bounded memory. A quantised layer is kept as its codes,
// scales and zeros (one byte per weight plus a little; the dequantised floats are made again when
// asked, which gives exactly the values the quantiser returned; fp16 outliers kept with them); a
// layer compressed in a form of its own (vector codes and codebooks, a rotated layer's codes:
// issue #23) as that form, decoded again when its weight is asked (the decode is a pure function
// of the form: the same values every time); a pruned layer as float32. Beyond the memory budget,
// entries go to one spill file in the run's scratch folder (engine/blocks/spill.ts) and are read
// back on demand, one layer at a time.
import os from 'node:os';
import { SpillFile, type Span } from '../engine/blocks/spill';
import { dequantize, quantMeta, type QuantMeta, type QuantizedLayer } from '../export/quant-store';
import { decodeLayer, type CompressedLayer } from '../engine/extreme/compressed';
import { compressedArrays, compressedFromArrays, compressedMeta, type CompressedMeta } from '../export/compressed-entry';

export type { QuantMeta };

interface Entry {
  bytes: number;
  float?: Float32Array;
  quant?: QuantizedLayer;
  meta?: QuantMeta;
  form?: CompressedLayer;
  formMeta?: CompressedMeta;
  /** Spilled: the float weights, or codes / scales / zeros / gIdx / outliers' row pointers, columns, values. */
  spans?: Span[];
}

/** Default memory for changed weights: 1/16 of the machine's memory, between 256 MiB and 2 GiB (QRECIPE_WEIGHT_MEMORY_MB overrides). */
export function weightBudget(): number {
  const env = process.env.QRECIPE_WEIGHT_MEMORY_MB;
  if (env !== undefined && env !== '' && Number.isFinite(Number(env)) && Number(env) >= 0) return Number(env) * 1048576;
  return Math.min(2 * 1024 ** 3, Math.max(256 * 1048576, os.totalmem() / 16));
}

const u8 = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32 = (b: Uint8Array): Float32Array => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);

export class WeightStore {
  private readonly entries = new Map<string, Entry>();
  private memory = 0;
  private readonly file: SpillFile;
  /** Most bytes held in memory at once, and bytes written to the spill file. */
  readonly stats = { peakMemoryBytes: 0, spilledBytes: 0 };

  constructor(dir: string, readonly budget = weightBudget()) {
    this.file = new SpillFile(dir, 'weights.bin', 'compressed weights');
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** The quantised layers, without their arrays, in the order they were stored. */
  get quantized(): QuantMeta[] {
    return [...this.entries.values()].filter((e) => e.meta).map((e) => e.meta!);
  }

  private async keep(name: string, e: Entry, arrays: ArrayBufferView[]): Promise<void> {
    this.delete(name);
    if (this.memory + e.bytes <= this.budget) {
      this.memory += e.bytes;
      this.stats.peakMemoryBytes = Math.max(this.stats.peakMemoryBytes, this.memory);
    } else {
      e.spans = [];
      for (const a of arrays) e.spans.push(await this.file.write(u8(a)));
      this.stats.spilledBytes += e.bytes;
      delete e.float;
      delete e.quant;
      delete e.form;
    }
    this.entries.set(name, e);
  }

  /** Stores float weights (rows × cols); the array is kept, not copied: do not change it afterwards. */
  async setFloat(name: string, w: Float32Array): Promise<void> {
    await this.keep(name, { bytes: w.byteLength, float: w }, [w]);
  }

  /** Stores a quantised layer (its arrays are kept, not copied). */
  async setQuantized(q: QuantizedLayer): Promise<void> {
    const { codes, scales, zeros, gIdx, outliers } = q;
    const meta = quantMeta(q);
    const arrays: ArrayBufferView[] = [codes, scales, zeros, ...(gIdx ? [gIdx] : []), ...(outliers ? [outliers.rowPtr, outliers.colIdx, outliers.values] : [])];
    await this.keep(q.name, { bytes: arrays.reduce((a, x) => a + x.byteLength, 0), quant: q, meta }, arrays);
  }

  /** The quantised layer with its arrays, or undefined when the layer is not stored quantised. */
  async quantizedLayer(name: string): Promise<QuantizedLayer | undefined> {
    const e = this.entries.get(name);
    if (!e?.meta) return undefined;
    if (e.quant) return e.quant;
    const blobs = await Promise.all(e.spans!.map((s) => this.file.read(s)));
    const [codes, scales, zeros] = blobs;
    const { hasGIdx, outlierCount, ...meta } = e.meta;
    const i32 = (b: Uint8Array): Int32Array => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const gIdx = hasGIdx ? blobs[3] : undefined;
    const o = outlierCount ? blobs.slice(hasGIdx ? 4 : 3) : undefined;
    return {
      ...meta, codes: codes!, scales: f32(scales!), zeros: f32(zeros!), ...(gIdx ? { gIdx: i32(gIdx) } : {}),
      ...(o ? { outliers: { rowPtr: i32(o[0]!), colIdx: i32(o[1]!), values: new Uint16Array(o[2]!.buffer, o[2]!.byteOffset, o[2]!.byteLength / 2) } } : {}),
    };
  }

  /** The layers compressed in a form of their own, without their arrays, in the order they were stored. */
  get compressed(): CompressedMeta[] {
    return [...this.entries.values()].filter((e) => e.formMeta).map((e) => e.formMeta!);
  }

  /** Stores a layer in a form of its own (its arrays are kept, not copied; its rotations stay in memory). */
  async setCompressed(c: CompressedLayer): Promise<void> {
    const arrays = compressedArrays(c);
    await this.keep(c.name, { bytes: arrays.reduce((a, x) => a + x.byteLength, 0), form: c, formMeta: compressedMeta(c) }, arrays);
  }

  /** The layer's compressed form with its arrays (read back when spilled), or undefined when it has none. */
  async compressedLayer(name: string): Promise<CompressedLayer | undefined> {
    const e = this.entries.get(name);
    if (!e?.formMeta) return undefined;
    if (e.form) return e.form;
    return compressedFromArrays(e.formMeta, await Promise.all(e.spans!.map((s) => this.file.read(s))));
  }

  /** The current weights (rows × cols float32; dequantised or decoded for a layer with codes), or undefined. */
  async weight(name: string): Promise<Float32Array | undefined> {
    const e = this.entries.get(name);
    if (!e) return undefined;
    if (e.meta) return dequantize((await this.quantizedLayer(name))!);
    if (e.formMeta) return decodeLayer((await this.compressedLayer(name))!);
    if (e.float) return e.float;
    return f32(await this.file.read(e.spans![0]!));
  }

  delete(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    if (e.spans) for (const s of e.spans) this.file.release(s);
    else this.memory -= e.bytes;
  }

  /** Removes the spill file. */
  async close(): Promise<void> {
    this.entries.clear();
    this.memory = 0;
    await this.file.close();
  }
}
