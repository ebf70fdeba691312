/**
 * The public types of the native API (native/index.ts re-exports them): shapes, quantiser and
 * pruning options, results, backend description, and the errors a call can raise (CancelledError
 * and Progress are the conventions every long operation shares: cancel.ts).
 */
import type { LongRunOptions } from './cancel';

export { CancelledError, type Progress } from './cancel';

/** Where a call runs. 'auto': a usable CUDA GPU if the addon has CUDA and the call a CUDA path, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda';

/**
 * Options every call accepts: an AbortSignal and a progress callback (`done` of `total` column
 * blocks, token slabs, bit widths...), and where the call runs.
 */
export interface CallOptions extends LongRunOptions {
  /**
   * Default 'auto': CUDA when a GPU is usable, the call has a CUDA path and the problem is large
   * enough to gain (Hessian ≥ 2·10¹⁰ flops, GPTQ/SparseGPT ≥ 4 M weights, RTN ≥ 16 M weights), else
   * the CPU. 'cuda' forces the GPU (an error when there is none or the call has no CUDA path).
   */
  device?: Device;
  /**
   * Which GPU a CUDA call runs on (an index into backendInfo().cuda.devices). Absent: the GPU with
   * the fewest calls in flight (ties round-robin), so concurrent calls spread over all visible GPUs.
   */
  gpu?: number;
}

/** Shape of a weight matrix: rows = output features, cols = input features. */
export interface Shape {
  rows: number;
  cols: number;
}

/** GPTQ's min-max uniform quantiser (range always includes 0). */
export interface QuantSpec {
  /** 2..8 */
  bits: number;
  /** Columns per group; 0 or absent: one scale/zero per row. The last group is shorter when it does not divide cols. */
  groupSize?: number;
  /**
   * Zero fixed at 2^(bits−1), full signed range: the value of largest magnitude is code 0 (−2^(bits−1)),
   * so its scale carries its sign (onnxruntime's symmetric rule). Default false (asymmetric).
   */
  symmetric?: boolean;
  /** Search a shrunk range (p = 1 − i/100, i < 80) minimising Σ|err|^2.4. Default false. */
  mse?: boolean;
}

/** Fitted quantisation grid: scale and zero of each group, [rows][groups] row-major. */
export interface QuantGrid {
  scales: Float32Array;
  zeros: Float32Array;
  /** Groups per row (1 when per row). */
  groups: number;
}

/** Which device ran a call. */
export interface Ran {
  device: 'cpu' | 'cuda';
  /** The GPU index a CUDA call ran on. */
  gpu?: number;
}

/** Integer codes of a quantised matrix with their grid; dequantised value = scale·(code − zero). */
export interface Quantized extends QuantGrid, Ran {
  /** rows × cols dequantised weights. */
  weights: Float32Array;
  /** rows × cols codes in 0..2^bits−1, original column order. */
  codes: Uint8Array;
  /** gIdx[c] = group of column c (c/groupSize, except GPTQ act-order without static groups). */
  gIdx: Int32Array;
}

export interface GptqOptions extends QuantSpec {
  /** Columns per lazy-update block. Default 128. */
  blockSize?: number;
  /** Dampening λ = percdamp·mean(diag H). Default 0.01. */
  percdamp?: number;
  /** Quantise columns in order of decreasing diag(H). Default false. */
  actOrder?: boolean;
  /** With act-order and groups: fit the groups on the original W in original column order. Default false. */
  staticGroups?: boolean;
  /**
   * Entries GPTQ does not quantise (rows × cols, HOLD values): pruned entries stay 0, outliers become
   * fp16 of their value when their column is reached; their codes are the code of 0 and they do not
   * shape the grids. The error of every entry is spread as usual. Absent: every entry is quantised.
   */
  hold?: Uint8Array;
}

/** Values of GptqOptions.hold. */
export const HOLD = { none: 0, pruned: 1, outlier: 2 } as const;

export interface GptqResult extends Quantized {
  /** Σ (w−q)²/d²/2 over the layer, as the GPTQ reference reports it. */
  loss: number;
  /** Quantisation order (identity without act-order). */
  perm: Int32Array;
}

/** Unstructured sparsity or an N:M pattern (n of every m consecutive columns pruned per row). */
export interface SparsityPattern {
  /** Fraction pruned, in [0, 1). Used when n/m are absent. */
  sparsity?: number;
  n?: number;
  m?: number;
}

export interface SparseGptOptions extends SparsityPattern {
  /** Also quantise the kept weights (joint sparse + quantised). */
  quant?: QuantSpec;
  blockSize?: number;
  percdamp?: number;
}

export interface Pruned extends Ran {
  weights: Float32Array;
  /** rows × cols, 1 where pruned. */
  mask: Uint8Array;
}

export interface SparseGptResult extends Pruned {
  loss: number;
  /** Present when `quant` was given. */
  quantized?: { codes: Uint8Array } & QuantGrid;
}

/** CSR matrix with fp16 values (IEEE half bits). */
export interface CsrF16 {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  values: Uint16Array;
}

export interface OutlierResult extends Ran {
  outliers: CsrF16;
  /** Dense part: codes and grid fitted without the outliers, dequantised values (0 at outliers). */
  dense: { weights: Float32Array; codes: Uint8Array } & QuantGrid;
}

export interface QuantErrorResult extends Ran {
  bits: number[];
  /** ‖W − Q_b(W)‖²_F for each bit width. */
  squared: number[];
  /** ½·tr(ΔW·H·ΔWᵀ); NaN without H. */
  hessian: number[];
  /** |⟨G, ΔW⟩_F|; NaN without G. */
  gradient: number[];
}

/** ONNX Runtime com.microsoft.MatMulNBits tensors (N = rows, K = cols). */
export interface MatMulNBitsPacked {
  /** uint8 [N][nBlocks][blockSize·bits/8] */
  B: Uint8Array;
  /** uint8 [N][⌈nBlocks·bits/8⌉], absent when no zeros were given. */
  zeroPoints?: Uint8Array;
  nBlocks: number;
  blobSize: number;
}

export interface BackendInfo {
  version: string;
  /** Absolute path of the loaded .node file. */
  addonPath: string;
  threads: number;
  /** CPU kernel variant in use: 'x86-64-v2' | 'x86-64-v3' | 'x86-64-v4'. */
  cpuKernel: string;
  cuda: {
    compiled: boolean;
    runtimeVersion: number;
    driverVersion: number;
    devices: { name: string; computeCapability: string; memoryGiB: number; multiprocessors: number }[];
    /** Why no device is usable, when none is. */
    error?: string;
    /** With a device: where GPTQ/SparseGPT factor H — 'device' (cuSOLVER) or 'host (<why>)'. */
    factor?: string;
  };
}

/** Thrown when the addon file cannot be found or loaded; the message lists what was tried. */
export class NativeLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NativeLoadError';
  }
}
