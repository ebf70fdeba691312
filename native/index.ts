/**
 * The only door to QRecipe's native addon (native/build/Release/qrecipe.node): the heavy math of
 * every compression method, on the CPU (OpenMP, all cores) or a CUDA GPU.
 *
 * Conventions: a weight W is a row-major Float32Array of rows × cols with rows = output features
 * and cols = input features; groups and N:M patterns run along cols; a Hessian is cols × cols.
 * Every call is async (the work runs off the JS thread), reads its inputs in place (do not mutate
 * them until the Promise settles), accepts `{ signal, onProgress, device }` and rejects with a
 * `CancelledError` when the signal aborts. Shapes and options are checked here before the addon is
 * called; the addon checks again and throws plain JS errors (never aborts the process).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

// ---------------------------------------------------------------------------------------------
// Public types

/** Where a call runs. 'auto': a usable CUDA GPU if the addon has CUDA and the call a CUDA path, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda';

/** Progress of a long call: `done` of `total` units (column blocks, token slabs, bit widths...). */
export interface Progress {
  done: number;
  total: number;
  label?: string;
}

/** Options every call accepts. */
export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
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
  /** Columns per group; 0 or absent: one scale/zero per row. Must divide cols. */
  groupSize?: number;
  /** Zero fixed at 2^(bits−1) and range symmetric around 0. Default false (asymmetric). */
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
}

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

/** Thrown (as a rejected Promise) when a call's AbortSignal fires. */
export class CancelledError extends Error {
  constructor(message = 'The operation was cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** Thrown when the addon file cannot be found or loaded; the message lists what was tried. */
export class NativeLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NativeLoadError';
  }
}

// ---------------------------------------------------------------------------------------------
// The raw addon surface (what qrecipe.node exports). Each job takes one option object holding
// shapes, options and the caller-allocated output arrays it fills in place.

interface RawJobOptions {
  cancel?: Int32Array;
  onProgress?: (p: Progress) => void;
  device?: Device;
  [key: string]: unknown;
}
type RawJob<R = object> = (o: RawJobOptions) => Promise<R & Ran>;

interface Addon {
  backendInfo(): Omit<BackendInfo, 'addonPath'>;
  quantGrid: RawJob;
  hessian: RawJob<{ count: number }>;
  gptq: RawJob<{ loss: number }>;
  sparsegpt: RawJob<{ loss: number }>;
  wanda: RawJob;
  magnitude: RawJob;
  outliers: RawJob;
  quantError: RawJob;
  packNBits: RawJob;
  unpackNBits: RawJob;
  benchGemv: RawJob<GemvBenchResult>;
  benchGemm: RawJob<GemmBenchResult>;
  benchGemmCpu: RawJob<{ ms: number; gflops: number }>;
  benchHessian: RawJob<HessianBenchResult>;
  hessianFetch(o: { id: number; cols?: number; H?: Float32Array; release?: boolean }): boolean;
}

/** CUDA benchmark of the fused dequant+GEMV kernel (see docs/native.md). */
export interface GemvBenchResult {
  fusedUs: number;
  fusedGBs: number;
  fp16Us: number;
  fp16GBs: number;
  fp16Impl: string;
  copyGBs: number;
  maxAbsErr: number;
  /** MB of weight copies the timed calls rotate through (≥ 256 MiB, more than the L2 cache). */
  workingSetMB: number;
  /** The kernel that ran: 'paced' (4-bit, whole tiles in shared memory), 'tensor core', 'register', …. */
  kernel: string;
}
/**
 * Device-side rate of one Hessian update (X and H on the device), TFLOP/s counted as a full GEMM of
 * the same shape: ours, cuBLAS SSYRK, cuBLAS SGEMM with beta, and plain cuBLAS SGEMM (the baseline);
 * 0 where cuBLAS is not loadable. `used` names the kernel HessianAccumulator.add picks.
 */
export interface HessianBenchResult {
  ownTflops: number;
  syrkTflops: number;
  gemmTflops: number;
  cublasGemmTflops: number;
  usedTflops: number;
  used: string;
}
export interface GemmBenchResult {
  oursMs: number;
  oursTflops: number;
  cublasMs: number;
  cublasTflops: number;
}

// ---------------------------------------------------------------------------------------------
// Loading

let addon: Addon | undefined;
let addonPath = '';

function findRepoRoot(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Candidate paths of the addon, in the order they are tried; QRECIPE_ADDON, when set, is the only one. */
export function addonCandidates(): string[] {
  if (process.env.QRECIPE_ADDON) return [path.resolve(process.env.QRECIPE_ADDON)];
  const rel = path.join('native', 'build', 'Release', 'qrecipe.node');
  const list: string[] = [];
  list.push(path.join(__dirname, '..', rel)); // bundles live in dist/
  const fromDir = findRepoRoot(__dirname);
  if (fromDir) list.push(path.join(fromDir, rel));
  const fromCwd = findRepoRoot(process.cwd());
  if (fromCwd) list.push(path.join(fromCwd, rel));
  return [...new Set(list)];
}

function load(): Addon {
  if (addon) return addon;
  const tried: string[] = [];
  // OpenMP threads that spin between parallel regions would starve the JS thread (progress
  // callbacks, other work); libgomp reads this once when it is loaded, so set it before dlopen
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  for (const file of addonCandidates()) {
    if (!existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    try {
      const mod = { exports: {} as Addon };
      // process.dlopen keeps the path out of the bundler's hands (a plain require would be rewritten)
      (process as NodeJS.Process & { dlopen(m: { exports: unknown }, f: string): void }).dlopen(mod, file);
      addon = mod.exports;
      addonPath = file;
      return addon;
    } catch (e) {
      tried.push(`${file}: ${(e as Error).message}`);
    }
  }
  throw new NativeLoadError(
    `QRecipe's native addon could not be loaded. Tried:\n  ${tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (needs g++ and Node headers; CUDA is added when nvcc exists), ' +
      'or point QRECIPE_ADDON at a qrecipe.node file.',
  );
}

/** Loads the addon (if needed) and describes it: version, CPU threads and kernel, CUDA devices. */
export function backendInfo(): BackendInfo {
  const a = load();
  return { ...a.backendInfo(), addonPath };
}

/** How many GPUs calls can spread over (0 without a usable CUDA device or addon); never throws. */
export function gpuCount(): number {
  try {
    return backendInfo().cuda.devices.length;
  } catch {
    return 0;
  }
}

/** True when the addon file can be loaded; never throws. */
export function isAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Plumbing: validation, cancellation, error mapping

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new RangeError(msg);
}

function checkShape(s: Shape, what = 'weight'): void {
  check(Number.isInteger(s.rows) && s.rows > 0 && Number.isInteger(s.cols) && s.cols > 0,
    `${what} shape must be positive integers, got ${s.rows}×${s.cols}`);
}

function checkLen(a: { length: number } | undefined, n: number, name: string, kind: string): void {
  if (!a) throw new TypeError(`${name} is missing`);
  check(a.length === n, `${name} has ${a.length} elements but ${kind} needs ${n}`);
}

function checkQuant(q: QuantSpec, cols: number): number {
  check(Number.isInteger(q.bits) && q.bits >= 2 && q.bits <= 8, `bits must be an integer in 2..8, got ${q.bits}`);
  const g = q.groupSize ?? 0;
  check(Number.isInteger(g) && g >= 0, `groupSize must be a non-negative integer, got ${g}`);
  check(g === 0 || cols % g === 0, `groupSize ${g} does not divide cols ${cols}; use a divisor of ${cols} or 0 (per row)`);
  return g === 0 ? 1 : cols / g;
}

function checkPattern(p: SparsityPattern, cols: number): { sparsity: number; n: number; m: number } {
  const n = p.n ?? 0;
  const m = p.m ?? 0;
  if (n || m) {
    check(Number.isInteger(n) && Number.isInteger(m) && n > 0 && n < m && m <= 64, `N:M must satisfy 0 < n < m ≤ 64, got ${n}:${m}`);
    check(cols % m === 0, `cols ${cols} is not a multiple of m=${m} for ${n}:${m} sparsity`);
  }
  const sparsity = p.sparsity ?? 0.5;
  check(sparsity >= 0 && sparsity < 1, `sparsity must be in [0, 1), got ${sparsity}`);
  return { sparsity, n, m };
}

function quantFields(q: QuantSpec): Record<string, unknown> {
  return { bits: q.bits, groupSize: q.groupSize ?? 0, symmetric: !!q.symmetric, mse: !!q.mse };
}

/** Runs one addon job with the AbortSignal mapped to the shared flag the native loops poll. */
async function call<R>(fn: (a: Addon) => (o: RawJobOptions) => Promise<R>, fields: Record<string, unknown>, opts: CallOptions = {}): Promise<R> {
  const a = load();
  const { signal, onProgress, device = 'auto', gpu } = opts;
  check(device === 'auto' || device === 'cpu' || device === 'cuda', `device must be 'auto', 'cpu' or 'cuda', got '${String(device)}'`);
  check(gpu === undefined || (Number.isInteger(gpu) && gpu >= 0), `gpu must be a GPU index ≥ 0, got ${String(gpu)}`);
  if (signal?.aborted) throw new CancelledError();
  const cancel = new Int32Array(1);
  const onAbort = (): void => void Atomics.store(cancel, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(a).call(a, { ...fields, cancel, onProgress, device, ...(gpu === undefined ? {} : { gpu }) });
  } catch (e) {
    if (e instanceof Error && e.name === 'CancelledError') throw new CancelledError(e.message);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

// ---------------------------------------------------------------------------------------------
// Quantisation grid and round-to-nearest

/** Fits the min-max grid of every row / group of W. */
export async function quantGrid(W: Float32Array, shape: Shape, q: QuantSpec, opts?: CallOptions): Promise<QuantGrid & Ran> {
  checkShape(shape);
  checkLen(W, shape.rows * shape.cols, 'W', `a ${shape.rows}×${shape.cols} weight`);
  const groups = checkQuant(q, shape.cols);
  const scales = new Float32Array(shape.rows * groups);
  const zeros = new Float32Array(shape.rows * groups);
  const r = await call((a) => a.quantGrid, { ...shape, ...quantFields(q), W, scales, zeros }, opts);
  return { scales, zeros, groups, device: r.device, gpu: r.gpu };
}

/** Round-to-nearest quantisation with the min-max grid (GPTQ's `--nearest` baseline). */
export async function rtn(W: Float32Array, shape: Shape, q: QuantSpec, opts?: CallOptions): Promise<Quantized> {
  checkShape(shape);
  checkLen(W, shape.rows * shape.cols, 'W', `a ${shape.rows}×${shape.cols} weight`);
  const groups = checkQuant(q, shape.cols);
  const n = shape.rows * shape.cols;
  const scales = new Float32Array(shape.rows * groups);
  const zeros = new Float32Array(shape.rows * groups);
  const codes = new Uint8Array(n);
  const weights = new Float32Array(n);
  const r = await call((a) => a.quantGrid, { ...shape, ...quantFields(q), W, scales, zeros, codes, Q: weights }, opts);
  const g = q.groupSize || shape.cols;
  const gIdx = Int32Array.from({ length: shape.cols }, (_, c) => (q.groupSize ? Math.floor(c / g) : 0));
  return { weights, codes, scales, zeros, groups, gIdx, device: r.device, gpu: r.gpu };
}

// ---------------------------------------------------------------------------------------------
// Hessian

/**
 * Running Hessian H = (2/n)·Σ x·xᵀ of one layer's inputs, fed chunk by chunk (GPTQ's add_batch).
 * `count` is the number of calibration samples folded in so far.
 */
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

// ---------------------------------------------------------------------------------------------
// GPTQ and SparseGPT

/** GPTQ: quantise W against its input Hessian H (cols × cols). */
export async function gptq(W: Float32Array, H: Float32Array, shape: Shape, o: GptqOptions, opts?: CallOptions): Promise<GptqResult> {
  checkShape(shape);
  const { rows, cols } = shape;
  checkLen(W, rows * cols, 'W', `a ${rows}×${cols} weight`);
  checkLen(H, cols * cols, 'H', `a ${cols}×${cols} Hessian`);
  const groups = checkQuant(o, cols);
  const blockSize = o.blockSize ?? 128;
  check(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= 4096, `blockSize must be 1..4096, got ${blockSize}`);
  const percdamp = o.percdamp ?? 0.01;
  check(percdamp >= 0, `percdamp must be ≥ 0, got ${percdamp}`);
  const weights = new Float32Array(rows * cols);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const zeros = new Float32Array(rows * groups);
  const gIdx = new Int32Array(cols);
  const perm = new Int32Array(cols);
  const r = await call((a) => a.gptq, {
    rows, cols, ...quantFields(o), blockSize, percdamp, actOrder: !!o.actOrder, staticGroups: !!o.staticGroups,
    W, H, Q: weights, codes, scales, zeros, gIdx, perm,
  }, opts);
  return { weights, codes, scales, zeros, groups, gIdx, perm, loss: r.loss, device: r.device, gpu: r.gpu };
}

/** SparseGPT: prune (unstructured or N:M) with the OBS update, optionally quantising what is kept. */
export async function sparsegpt(W: Float32Array, H: Float32Array, shape: Shape, o: SparseGptOptions, opts?: CallOptions): Promise<SparseGptResult> {
  checkShape(shape);
  const { rows, cols } = shape;
  checkLen(W, rows * cols, 'W', `a ${rows}×${cols} weight`);
  checkLen(H, cols * cols, 'H', `a ${cols}×${cols} Hessian`);
  const p = checkPattern(o, cols);
  const blockSize = o.blockSize ?? 128;
  check(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= 4096, `blockSize must be 1..4096, got ${blockSize}`);
  check(!p.m || blockSize % p.m === 0, `blockSize ${blockSize} must be a multiple of m=${p.m}`);
  const groups = o.quant ? checkQuant(o.quant, cols) : 1;
  const weights = new Float32Array(rows * cols);
  const mask = new Uint8Array(rows * cols);
  const quantized = o.quant
    ? { codes: new Uint8Array(rows * cols), scales: new Float32Array(rows * groups), zeros: new Float32Array(rows * groups), groups }
    : undefined;
  const r = await call((a) => a.sparsegpt, {
    rows, cols, ...p, blockSize, percdamp: o.percdamp ?? 0.01, W, H, Q: weights, mask,
    ...(o.quant ? { quantize: true, ...quantFields(o.quant), codes: quantized!.codes, scales: quantized!.scales, zeros: quantized!.zeros } : {}),
  }, opts);
  return { weights, mask, loss: r.loss, quantized, device: r.device, gpu: r.gpu };
}

// ---------------------------------------------------------------------------------------------
// Score-based pruning

/** Wanda: prune the lowest |W_ij|·‖X_j‖₂ within each row (or each N:M group). No weight update. */
export async function wanda(W: Float32Array, colNorms: Float32Array, shape: Shape, p: SparsityPattern, opts?: CallOptions): Promise<Pruned> {
  checkShape(shape);
  checkLen(W, shape.rows * shape.cols, 'W', `a ${shape.rows}×${shape.cols} weight`);
  checkLen(colNorms, shape.cols, 'colNorms', `${shape.cols} input features`);
  const pat = checkPattern(p, shape.cols);
  const weights = new Float32Array(W.length);
  const mask = new Uint8Array(W.length);
  const r = await call((a) => a.wanda, { ...shape, ...pat, W, colNorms, Q: weights, mask }, { ...opts, device: opts?.device === 'cuda' ? 'cuda' : 'cpu' });
  return { weights, mask, device: r.device, gpu: r.gpu };
}

/** Magnitude pruning: layer-wide |W| threshold (unstructured) or per-row N:M. */
export async function magnitude(W: Float32Array, shape: Shape, p: SparsityPattern, opts?: CallOptions): Promise<Pruned> {
  checkShape(shape);
  checkLen(W, shape.rows * shape.cols, 'W', `a ${shape.rows}×${shape.cols} weight`);
  const pat = checkPattern(p, shape.cols);
  const weights = new Float32Array(W.length);
  const mask = new Uint8Array(W.length);
  const r = await call((a) => a.magnitude, { ...shape, ...pat, W, Q: weights, mask }, { ...opts, device: opts?.device === 'cuda' ? 'cuda' : 'cpu' });
  return { weights, mask, device: r.device, gpu: r.gpu };
}

// ---------------------------------------------------------------------------------------------
// LLM-MQ pieces

/**
 * Sparse outlier protection: the ⌊fraction·rows·cols⌋ largest |w| (ties: lower index) go to an fp16
 * CSR matrix; the rest is quantised with groups fitted without them.
 */
export async function outliers(W: Float32Array, shape: Shape, fraction: number, q: QuantSpec, opts?: CallOptions): Promise<OutlierResult> {
  checkShape(shape);
  const { rows, cols } = shape;
  checkLen(W, rows * cols, 'W', `a ${rows}×${cols} weight`);
  check(fraction >= 0 && fraction < 1, `outlier fraction must be in [0, 1), got ${fraction}`);
  const groups = checkQuant(q, cols);
  const nnz = Math.floor(fraction * rows * cols);
  const out = {
    rowPtr: new Int32Array(rows + 1), colIdx: new Int32Array(nnz), values: new Uint16Array(nnz),
    codes: new Uint8Array(rows * cols), scales: new Float32Array(rows * groups), zeros: new Float32Array(rows * groups),
    dense: new Float32Array(rows * cols),
  };
  const r = await call((a) => a.outliers, { rows, cols, ...quantFields(q), W, nnz, ...out }, { ...opts, device: opts?.device === 'cuda' ? 'cuda' : 'cpu' });
  return {
    outliers: { rowPtr: out.rowPtr, colIdx: out.colIdx, values: out.values },
    dense: { weights: out.dense, codes: out.codes, scales: out.scales, zeros: out.zeros, groups },
    device: r.device,
    gpu: r.gpu,
  };
}

/** Quantisation error of W under RTN for each bit width (plain, Hessian-weighted, gradient-weighted). */
export async function quantError(
  W: Float32Array, shape: Shape, bits: number[], q: Omit<QuantSpec, 'bits'>,
  extra: { H?: Float32Array; G?: Float32Array } = {}, opts?: CallOptions,
): Promise<QuantErrorResult> {
  checkShape(shape);
  const { rows, cols } = shape;
  checkLen(W, rows * cols, 'W', `a ${rows}×${cols} weight`);
  check(bits.length > 0, 'bits list is empty');
  for (const b of bits) checkQuant({ ...q, bits: b }, cols);
  if (extra.H) checkLen(extra.H, cols * cols, 'H', `a ${cols}×${cols} Hessian`);
  if (extra.G) checkLen(extra.G, rows * cols, 'G', `a ${rows}×${cols} gradient`);
  const squared = new Float64Array(bits.length);
  const hessian = new Float64Array(bits.length);
  const gradient = new Float64Array(bits.length);
  const r = await call((a) => a.quantError, {
    rows, cols, ...quantFields({ ...q, bits: bits[0] }), bitsList: Int32Array.from(bits), W, H: extra.H, G: extra.G,
    squared, hessian, gradient,
  }, { ...opts, device: opts?.device === 'cuda' ? 'cuda' : 'cpu' });
  return { bits: [...bits], squared: [...squared], hessian: [...hessian], gradient: [...gradient], device: r.device, gpu: r.gpu };
}

// ---------------------------------------------------------------------------------------------
// Packing

/** Bit widths ONNX Runtime 1.30's CPU MatMulNBits accepts (checked by test/native/pack-ort.test.ts). */
export const MATMUL_NBITS_BITS: readonly number[] = [2, 4, 8];

function nbitsLayout(shape: Shape, bits: number, blockSize: number): { nBlocks: number; blobSize: number; zpRow: number } {
  checkShape(shape);
  check(Number.isInteger(bits) && bits >= 2 && bits <= 8, `bits must be 2..8, got ${bits}`);
  check(Number.isInteger(blockSize) && blockSize >= 16 && (blockSize & (blockSize - 1)) === 0, `blockSize must be a power of two ≥ 16, got ${blockSize}`);
  const nBlocks = Math.ceil(shape.cols / blockSize);
  return { nBlocks, blobSize: Math.ceil((blockSize * bits) / 8), zpRow: Math.ceil((nBlocks * bits) / 8) };
}

/**
 * Packs codes (rows = N output features × cols = K) into MatMulNBits' B, and per-block zeros
 * (uint8 [N][nBlocks], optional) into its packed zero_points. Scales need no packing: float
 * [N·nBlocks] in the same order as QuantGrid.scales when groupSize = blockSize.
 */
export async function packMatMulNBits(codes: Uint8Array, shape: Shape, bits: number, blockSize: number, zeros?: Uint8Array, opts?: CallOptions): Promise<MatMulNBitsPacked> {
  const { nBlocks, blobSize, zpRow } = nbitsLayout(shape, bits, blockSize);
  checkLen(codes, shape.rows * shape.cols, 'codes', `a ${shape.rows}×${shape.cols} matrix`);
  if (zeros) checkLen(zeros, shape.rows * nBlocks, 'zeros', `${shape.rows} rows × ${nBlocks} blocks`);
  const B = new Uint8Array(shape.rows * nBlocks * blobSize);
  const zeroPoints = zeros ? new Uint8Array(shape.rows * zpRow) : undefined;
  await call((a) => a.packNBits, { ...shape, bits, blockSize, codes, zeros, B, zeroPoints }, { ...opts, device: 'cpu' });
  return { B, zeroPoints, nBlocks, blobSize };
}

/** Inverse of packMatMulNBits. */
export async function unpackMatMulNBits(B: Uint8Array, shape: Shape, bits: number, blockSize: number, zeroPoints?: Uint8Array, opts?: CallOptions): Promise<{ codes: Uint8Array; zeros?: Uint8Array }> {
  const { nBlocks, blobSize, zpRow } = nbitsLayout(shape, bits, blockSize);
  checkLen(B, shape.rows * nBlocks * blobSize, 'B', `${shape.rows} rows × ${nBlocks} blocks × ${blobSize} bytes`);
  if (zeroPoints) checkLen(zeroPoints, shape.rows * zpRow, 'zeroPoints', `${shape.rows} rows × ${zpRow} bytes`);
  const codes = new Uint8Array(shape.rows * shape.cols);
  const zeros = zeroPoints ? new Uint8Array(shape.rows * nBlocks) : undefined;
  await call((a) => a.unpackNBits, { ...shape, bits, blockSize, codes, zeros, B, zeroPoints }, { ...opts, device: 'cpu' });
  return { codes, zeros };
}

/**
 * Per-channel int8 for QuantizeLinear/DequantizeLinear: 8-bit codes (0..255, zero per row) become
 * int8 values q − 128 with zero points z − 128, so (q − z)·scale is unchanged. Per-row grids only.
 */
export function packInt8PerChannel(codes: Uint8Array, zeros: Float32Array, shape: Shape): { values: Int8Array; zeroPoints: Int8Array } {
  checkShape(shape);
  checkLen(codes, shape.rows * shape.cols, 'codes', `a ${shape.rows}×${shape.cols} matrix`);
  checkLen(zeros, shape.rows, 'zeros', `one zero per row (${shape.rows})`);
  const values = new Int8Array(codes.length);
  for (let i = 0; i < codes.length; i++) values[i] = codes[i] - 128;
  const zeroPoints = new Int8Array(shape.rows);
  for (let r = 0; r < shape.rows; r++) {
    check(Number.isInteger(zeros[r]) && zeros[r] >= 0 && zeros[r] <= 255, `zero ${zeros[r]} of row ${r} is not an 8-bit code`);
    zeroPoints[r] = zeros[r] - 128;
  }
  return { values, zeroPoints };
}

/** Inverse of packInt8PerChannel. */
export function unpackInt8PerChannel(values: Int8Array, zeroPoints: Int8Array): { codes: Uint8Array; zeros: Float32Array } {
  return { codes: Uint8Array.from(values, (v) => v + 128), zeros: Float32Array.from(zeroPoints, (z) => z + 128) };
}

// ---------------------------------------------------------------------------------------------
// CUDA benchmarks (GPU machine only)

/** Times the fused dequant+GEMV kernel against an fp16 GEMV and the device's copy bandwidth. */
export async function benchGemv(o: { rows: number; cols: number; bits: 2 | 3 | 4 | 8; groupSize?: number; iters?: number; outlierFraction?: number; variant?: number; flush?: 0 | 1; graph?: 0 | 1 }, opts?: CallOptions): Promise<GemvBenchResult & Ran> {
  return call((a) => a.benchGemv, { ...o }, opts);
}

/** Times the CPU kernel behind the Hessian and GPTQ updates: C(m×n) += Aᵀ·B, best of `iters`. */
export async function benchGemmCpu(o: { m: number; n: number; k: number; iters?: number }, opts?: CallOptions): Promise<{ ms: number; gflops: number } & Ran> {
  return call((a) => a.benchGemmCpu, { ...o }, { ...opts, device: 'cpu' });
}

/** Times the CUDA GEMM used for the Hessian against cuBLAS SGEMM (when libcublas can be loaded). */
export async function benchGemm(o: { m: number; n: number; k: number }, opts?: CallOptions): Promise<GemmBenchResult & Ran> {
  return call((a) => a.benchGemm, { ...o }, opts);
}

/** Times one Hessian update on the device with each available kernel against cuBLAS SGEMM. */
export async function benchHessian(o: { cols: number; tokens: number }, opts?: CallOptions): Promise<HessianBenchResult & Ran> {
  return call((a) => a.benchHessian, { ...o }, opts);
}

// ---------------------------------------------------------------------------------------------
// Process memory

/**
 * Makes the C allocator give large freed blocks back to the system at once (glibc: a fixed mmap
 * threshold of `thresholdBytes`, default 1 MiB, instead of one that rises after each large free).
 * Long runs that build and drop block-sized buffers otherwise keep each freed block resident.
 * Returns false where it does nothing (another C library, or an addon built before this call).
 */
export function tuneAllocator(thresholdBytes = 1 << 20): boolean {
  const a = load() as Addon & { tuneAllocator?: (n: number) => boolean };
  return typeof a.tuneAllocator === 'function' ? a.tuneAllocator(thresholdBytes) : false;
}
