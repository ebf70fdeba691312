/**
 * The activations that travel along the chain, per calibration batch: each part's boundary tensor
 * (replaced in place by the next part's), the prefix's side tensors and the graph inputs later
 * parts read. Kept in memory up to a budget; beyond it, spilled to one file in the run's scratch
 * folder (a freed slot is reused by a tensor of the same size, so the file stays at about one
 * boundary per batch). Tensors keep their element type and shape: nothing here assumes float32.
 *
 * Side tensors that are equal for every batch (a causal mask or rotary table depends only on the
 * sequence length) are stored once.
 *
 * A disk that fills fails with the folder and its free space (spill.ts); `dispose()` removes the file.
 */
import * as ort from 'onnxruntime-node';
import { SpillFile, type Span } from './spill';

export { ScratchSpaceError } from './spill';

type Typed = ort.Tensor['data'];

interface Stored {
  type: ort.Tensor.Type;
  dims: readonly number[];
  bytes: number;
  data?: Typed;
  spill?: Span;
  /** Number of (batch, name) entries sharing this tensor. */
  refs: number;
  hash?: number;
}

function viewBytes(d: Typed): Uint8Array {
  if (Array.isArray(d)) throw new Error('string tensors cannot be cached');
  const v = d as ArrayBufferView;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

const ARRAYS: Partial<Record<ort.Tensor.Type, { new(b: ArrayBuffer): Typed }>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
} as Partial<Record<ort.Tensor.Type, { new(b: ArrayBuffer): Typed }>>;

/** A tensor of `type` over a copy of `bytes` (aligned for its element size). */
export function tensorFromBytes(type: ort.Tensor.Type, dims: readonly number[], bytes: Uint8Array): ort.Tensor {
  const C = ARRAYS[type];
  if (!C) throw new Error(`activations of type ${type} cannot be cached`);
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return new ort.Tensor(type, new C(buf) as never, dims);
}

function fnv(b: Uint8Array): number {
  let h = 0x811c9dc5;
  const step = Math.max(1, Math.floor(b.length / 65536));
  for (let i = 0; i < b.length; i += step) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h ^ b.length) >>> 0;
}

export interface ActivationStats { peakMemoryBytes: number; spilledBytes: number; fileBytes: number }

export class ActivationCache {
  private readonly entries = new Map<string, Stored>();
  private readonly shared = new Map<string, Stored[]>();
  private memory = 0;
  private readonly file: SpillFile;
  readonly stats: ActivationStats = { peakMemoryBytes: 0, spilledBytes: 0, fileBytes: 0 };

  /**
   * @param dir scratch folder for the spill file (created on first spill)
   * @param budget bytes of activations kept in memory
   */
  constructor(dir: string, readonly budget: number) {
    this.file = new SpillFile(dir, 'activations.bin', 'calibration activations');
  }

  get spillPath(): string {
    return this.file.path;
  }

  private key(batch: number, name: string): string {
    return `${batch}\u0000${name}`;
  }

  has(batch: number, name: string): boolean {
    return this.entries.has(this.key(batch, name));
  }

  /** Stores `t` for (batch, name), replacing what was there. `share`: reuse an equal tensor stored under this name. */
  async put(batch: number, name: string, t: ort.Tensor, opts: { share?: boolean } = {}): Promise<void> {
    const k = this.key(batch, name);
    await this.drop(k);
    const bytes = viewBytes(t.data);
    if (opts.share) {
      const h = fnv(bytes);
      for (const s of this.shared.get(name) ?? []) {
        if (s.hash !== h || s.type !== t.type || s.dims.join() !== t.dims.join() || s.bytes !== bytes.byteLength) continue;
        const other = await this.read(s);
        if (Buffer.compare(other, bytes) !== 0) continue;
        s.refs++;
        this.entries.set(k, s);
        return;
      }
    }
    const s: Stored = { type: t.type, dims: [...t.dims], bytes: bytes.byteLength, refs: 1 };
    if (this.memory + bytes.byteLength <= this.budget) {
      s.data = t.data;
      this.memory += bytes.byteLength;
      this.stats.peakMemoryBytes = Math.max(this.stats.peakMemoryBytes, this.memory);
    } else {
      s.spill = await this.file.write(bytes);
      this.stats.spilledBytes += bytes.byteLength;
      this.stats.fileBytes = this.file.size;
    }
    if (opts.share) {
      s.hash = fnv(bytes);
      (this.shared.get(name) ?? this.shared.set(name, []).get(name)!).push(s);
    }
    this.entries.set(k, s);
  }

  /** The tensor stored for (batch, name). */
  async get(batch: number, name: string): Promise<ort.Tensor> {
    const s = this.entries.get(this.key(batch, name));
    if (!s) throw new Error(`activation '${name}' of batch ${batch} is not cached`);
    if (s.data) return new ort.Tensor(s.type, s.data as never, s.dims);
    return tensorFromBytes(s.type, s.dims, await this.read(s));
  }

  /** The shape of the tensor stored for (batch, name), without reading it. */
  dims(batch: number, name: string): readonly number[] {
    const s = this.entries.get(this.key(batch, name));
    if (!s) throw new Error(`activation '${name}' of batch ${batch} is not cached`);
    return s.dims;
  }

  /** Forgets (batch, name). */
  async delete(batch: number, name: string): Promise<void> {
    await this.drop(this.key(batch, name));
  }

  private async drop(k: string): Promise<void> {
    const s = this.entries.get(k);
    if (!s) return;
    this.entries.delete(k);
    if (--s.refs > 0) return;
    if (s.data) { this.memory -= s.bytes; s.data = undefined; }
    if (s.spill) { this.file.release(s.spill); s.spill = undefined; }
    if (s.hash !== undefined) {
      for (const [name, list] of this.shared) {
        const i = list.indexOf(s);
        if (i >= 0) { list.splice(i, 1); if (!list.length) this.shared.delete(name); }
      }
    }
  }

  private async read(s: Stored): Promise<Uint8Array> {
    return s.data ? viewBytes(s.data) : this.file.read(s.spill!);
  }

  /** Closes and removes the spill file. */
  async dispose(): Promise<void> {
    this.entries.clear();
    this.shared.clear();
    this.memory = 0;
    await this.file.close();
  }
}
