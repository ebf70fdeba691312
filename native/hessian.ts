/**
 * The running Hessian of one layer's inputs, H = (2/n)·Σ x·xᵀ fed chunk by chunk (GPTQ's add_batch),
 * optionally kept in GPU memory between adds.
 */
import { check, checkLen, checkShape } from './checks';
import { call, load } from './load';
import type { CallOptions, Ran } from './types';

let nextResidentId = 1;
// a device-resident Hessian whose accumulator was garbage-collected is freed (best effort)
const residentRegistry = new FinalizationRegistry<number>((id) => {
  try {
    load().hessianFetch({ id, release: true });
  } catch {
    /* the addon is gone or the device failed: nothing left to free */
  }
});

/**
 * Running Hessian H = (2/n)·Σ XᵀX over calibration samples. By default H lives in the `H` array and
 * every CUDA `add` copies it to the device and back. With `keepOnDevice`, CUDA adds keep H in GPU
 * memory between calls (only X crosses the bus) and reading `H` copies it back when the device copy
 * is newer; call `dispose()` when done (or let it be garbage-collected) to free the GPU memory.
 * Without room on the device, or when an add runs on the CPU, it falls back to the host copy.
 */
export class HessianAccumulator {
  private readonly host: Float32Array;
  private readonly residentId: number;
  private onDevice = false; // the device copy is newer than `host`
  count = 0;
  constructor(readonly cols: number, o: { keepOnDevice?: boolean } = {}) {
    check(Number.isInteger(cols) && cols > 0, `Hessian size must be a positive integer, got ${cols}`);
    this.host = new Float32Array(cols * cols);
    this.residentId = o.keepOnDevice ? nextResidentId++ : 0;
    if (this.residentId) residentRegistry.register(this, this.residentId, this);
  }

  /** H (cols × cols, row-major), current as of the last settled `add`. */
  get H(): Float32Array {
    if (this.onDevice) {
      load().hessianFetch({ id: this.residentId, cols: this.cols, H: this.host });
      this.onDevice = false;
    }
    return this.host;
  }

  /** Adds X (tokens × cols, row-major) holding `samples` calibration samples (default 1). */
  async add(X: Float32Array, tokens: number, samples = 1, opts?: CallOptions): Promise<Ran> {
    checkShape({ rows: tokens, cols: this.cols }, 'activation chunk');
    checkLen(X, tokens * this.cols, 'X', `${tokens} tokens × ${this.cols} features`);
    check(samples > 0, `samples must be > 0, got ${samples}`);
    const r = await call((a) => a.hessian, {
      rows: tokens, cols: this.cols, X, H: this.host, count: this.count, samples, resident: this.residentId,
    }, opts);
    this.count = r.count;
    this.onDevice = this.residentId > 0 && r.device === 'cuda';
    return { device: r.device, gpu: r.gpu };
  }

  /** @internal The graph executor's view of a tap's target (graph.ts): the host H, the resident id and the count. */
  tapTarget(): { H: Float32Array; resident: number; count: number } {
    return { H: this.host, resident: this.residentId, count: this.count };
  }

  /** @internal A graph run folded `samples` more samples in on `device` (graph.ts). */
  tapped(samples: number, device: 'cpu' | 'cuda'): void {
    this.count += samples;
    this.onDevice = this.residentId > 0 && device === 'cuda';
  }

  /** Brings H back to `H` and frees its GPU copy (keepOnDevice); the accumulator stays usable. */
  dispose(): void {
    if (!this.residentId) return;
    load().hessianFetch({ id: this.residentId, cols: this.cols, H: this.host, release: true });
    this.onDevice = false;
  }

  /** ‖X_j‖₂ over the tokens seen, from diag(H) = (2/n)·Σx_j² — Wanda's input norms. */
  columnNorms(): Float32Array {
    const out = new Float32Array(this.cols);
    for (let j = 0; j < this.cols; j++) out[j] = Math.sqrt(Math.max(0, (this.H[j * this.cols + j] * this.count) / 2));
    return out;
  }
}

