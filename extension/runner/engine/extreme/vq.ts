/**
 * Additive vector quantization with learned codebooks (AQLM, Egiazarian et al., ICML 2024) of one
 * layer against its input Hessian. Each row r of W (rows × cols) is cut into cols/g groups of g
 * consecutive weights; group j of row r is coded by M indices b[r][j][m] into M codebooks of
 * K = 2^B vectors of dimension g, and a per-row scale s[r]:
 *
 *     Ŵ[r, j·g + p] = s[r] · Σ_m C[m][b[r][j][m]][p]
 *
 * The objective is the layer loss L = Σ_r e_rᵀ·H·e_r with e_r = w_r − ŵ_r (H = 2XᵀX/n, dampened
 * like GPTQ). As in AQLM: scales from the rows (RMS), codebooks initialised by residual k-means on
 * the scaled groups, then rounds of
 *   1. codes: a greedy (beam 1) pass over groups and codebooks, each row independently, choosing the
 *      code with the least exact change of the row's loss (AQLM's beam search with XᵀX);
 *   2. codebooks: least squares on the Hessian-weighted error (normal equations solved by
 *      conjugate gradients; AQLM uses Adam on the same objective), one codebook at a time;
 *   3. scales: per row, the closed-form least-squares scale;
 * until a round improves L by less than `tolerance` (relative; AQLM's relative_mse_tolerance).
 * Every step never increases L (tested).
 */
import { Rng } from '../../../../language-server/core/util/rng';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import * as native from '../../../../native/index';
import type { Device } from '../../../../native/index';
import { kmeans } from './kmeans';
import { rowsTimesH, vqBackend, type VqBackend, type VqEngine } from './vq-loops';

export interface VqSpec {
  /** g: weights per vector (divides cols). */
  dim: number;
  /** M: additive codebooks. */
  codebooks: number;
  /** B: bits per code (codebook size 2^B; 8 → uint8 codes, up to 16 → uint16). */
  bits: number;
  /** Rounds of codes / codebooks / scales (default 8). */
  iterations?: number;
  /** Stop when a round improves the loss by less than this fraction (default 0.01). */
  tolerance?: number;
  /** Per-row scales (default true). */
  scales?: boolean;
  /** k-means iterations of the initialisation (default 12). */
  kmeans?: number;
  /** Points the k-means iterations run on, at most (default all; with fewer, all points are assigned at the end). */
  kmeansSample?: number;
  /** Hessian dampening as a fraction of its mean diagonal (default 0.01, GPTQ's). */
  percdamp?: number;
  seed?: number;
  /** Where the inner loops run: the addon when it loads ('native', default) or TypeScript ('ts'). */
  engine?: VqEngine;
  /** The addon's device for them (default 'auto': CUDA for large enough work when a GPU is usable). */
  device?: Device;
}

/** A vector-quantised layer. */
export interface VqLayer {
  rows: number;
  cols: number;
  dim: number;
  codebooks: number;
  bits: number;
  /** [rows][cols/dim][codebooks] indices. */
  codes: Uint8Array | Uint16Array;
  /** [codebooks][2^bits][dim]. */
  books: Float32Array;
  /** [rows]. */
  scales: Float32Array;
}

export interface VqResult {
  layer: VqLayer;
  /** The dequantised weight. */
  weights: Float32Array;
  /** The objective (against the dampened H) after the k-means start and after each round: never increasing. */
  history: number[];
  /** Final layer loss Σ_r e_rᵀ·H·e_r against the given H. */
  loss: number;
  /** loss / tr(W·H·Wᵀ). */
  relError: number;
  /** Where the inner loops ran: 'ts', or the addon's devices ('cpu', 'cuda', 'cpu+cuda'). */
  ranOn: string;
}

export const VQ_LIMITS = { maxBits: 16, maxDim: 64, maxBooks: 8 } as const;

/** Bytes of a code of this width (uint8 or uint16). */
export function codeBytes(bits: number): 1 | 2 {
  return bits <= 8 ? 1 : 2;
}

/** The dequantised weight of a VQ layer (rows × cols). */
export function vqDecode(q: VqLayer): Float32Array {
  const { rows, cols, dim: g, codebooks: M } = q;
  const K = 1 << q.bits;
  const G = cols / g;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = q.scales[r]!;
    for (let j = 0; j < G; j++) {
      for (let p = 0; p < g; p++) {
        let v = 0;
        for (let m = 0; m < M; m++) v += q.books[(m * K + q.codes[(r * G + j) * M + m]!) * g + p]!;
        out[r * cols + j * g + p] = s * v;
      }
    }
  }
  return out;
}

/** Σ_r (w_r − ŵ_r)ᵀ·H·(w_r − ŵ_r) in float64. */
export function layerLoss(W: ArrayLike<number>, Q: ArrayLike<number>, H: ArrayLike<number>, rows: number, cols: number): number {
  const e = new Float64Array(cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) e[c] = W[r * cols + c]! - Q[r * cols + c]!;
    for (let i = 0; i < cols; i++) {
      if (e[i] === 0) continue;
      let a = 0;
      for (let j = 0; j < cols; j++) a += H[i * cols + j]! * e[j]!;
      total += e[i]! * a;
    }
  }
  return total;
}

/** The working state of one layer's quantisation, in float64. */
class VqState {
  readonly K: number;
  readonly G: number;
  readonly books: Float64Array;
  readonly codes: Int32Array;
  readonly scales: Float64Array;
  /** H·w_r for every row (rows × cols), fixed (`init`). */
  readonly HW: Float64Array;

  constructor(
    readonly W: Float64Array, readonly H: Float64Array, readonly rows: number, readonly cols: number,
    readonly g: number, readonly M: number, bits: number, readonly backend: VqBackend,
  ) {
    this.K = 1 << bits;
    this.G = cols / g;
    this.books = new Float64Array(M * this.K * g);
    this.codes = new Int32Array(rows * this.G * M);
    this.scales = new Float64Array(rows).fill(1);
    this.HW = new Float64Array(rows * cols);
  }

  async init(): Promise<void> {
    await rowsTimesH(this.backend, this.H, this.W, this.rows, this.cols, this.HW);
  }

  /** Unscaled decode of row r into out[0..cols). */
  decodeRow(r: number, out: Float64Array, skipBook = -1): void {
    const { g, M, K, G, books, codes } = this;
    out.fill(0);
    for (let j = 0; j < G; j++) {
      for (let m = 0; m < M; m++) {
        if (m === skipBook) continue;
        const base = (m * K + codes[(r * G + j) * M + m]!) * g;
        for (let p = 0; p < g; p++) out[j * g + p]! += books[base + p]!;
      }
    }
  }

  /** The residuals w_r − s_r·v_r of every row (rows × cols). */
  residuals(): Float64Array {
    const { rows, cols, W, scales } = this;
    const v = new Float64Array(cols);
    const E = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      this.decodeRow(r, v);
      for (let c = 0; c < cols; c++) E[r * cols + c] = W[r * cols + c]! - scales[r]! * v[c]!;
    }
    return E;
  }

  /** Loss of every row against this state's (dampened) H. */
  async loss(): Promise<number> {
    const { rows, cols, H } = this;
    const E = this.residuals();
    const P = new Float64Array(rows * cols);
    await rowsTimesH(this.backend, H, E, rows, cols, P);
    let total = 0;
    for (let i = 0; i < rows * cols; i++) total += E[i]! * P[i]!;
    return total;
  }

  toLayer(bits: number): VqLayer {
    const codes = bits <= 8 ? Uint8Array.from(this.codes) : Uint16Array.from(this.codes);
    return {
      rows: this.rows, cols: this.cols, dim: this.g, codebooks: this.M, bits, codes,
      books: Float32Array.from(this.books), scales: Float32Array.from(this.scales),
    };
  }
}

function matVec(H: Float64Array, x: ArrayLike<number>, xOff: number, out: Float64Array, outOff: number, n: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const hi = i * n;
    for (let j = 0; j < n; j++) s += H[hi + j]! * x[xOff + j]!;
    out[outOff + i] = s;
  }
}

/** Scales from the rows' RMS and codebooks by residual k-means on the scaled groups. */
async function initialise(st: VqState, spec: VqSpec, rng: Rng): Promise<void> {
  const { rows, cols, g, M, K, G, W } = st;
  if (spec.scales !== false) {
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += W[r * cols + c]! ** 2;
      st.scales[r] = Math.sqrt(ss / cols) || 1;
    }
  }
  const n = rows * G;
  const residual = new Float64Array(n * g);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) residual[r * cols + c] = W[r * cols + c]! / st.scales[r]!;
  const cent = new Float64Array(K * g);
  for (let m = 0; m < M; m++) {
    const assign = await kmeans(st.backend, residual, n, g, K, spec.kmeans ?? 12, rng, cent, spec.kmeansSample ?? Infinity);
    st.books.set(cent, m * K * g);
    for (let i = 0; i < n; i++) {
      st.codes[i * M + m] = assign[i]!;
      for (let p = 0; p < g; p++) residual[i * g + p]! -= cent[assign[i]! * g + p]!;
    }
  }
}

/** One greedy pass over groups and codebooks of every row: each code moves to the best one for the row's loss. */
async function updateCodes(st: VqState): Promise<number> {
  const { rows, cols, g, M, K, G, H, books, codes, scales } = st;
  // rows are independent: every row's residual and H·residual at the start of the pass, in one sweep of H
  const E = st.residuals();
  const PH = new Float64Array(rows * cols);
  await rowsTimesH(st.backend, H, E, rows, cols, PH);
  if (st.backend.native) {
    const r = await native.vqCodes({ rows, cols, dim: g, codebooks: M, K }, H, books, scales, codes, E, PH, { device: st.backend.device });
    st.backend.used.add(r.device === 'cuda' ? 'cuda' : 'cpu');
    return r.changed;
  }
  // Q[j][m][k] = c_kᵀ·H_jj·c_k, the quadratic term of each candidate in each group
  const Q = new Float64Array(G * M * K);
  const hc = new Float64Array(g);
  for (let j = 0; j < G; j++) {
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < K; k++) {
        const base = (m * K + k) * g;
        let s = 0;
        for (let p = 0; p < g; p++) {
          let a = 0;
          for (let q = 0; q < g; q++) a += H[(j * g + p) * cols + j * g + q]! * books[base + q]!;
          s += books[base + p]! * a;
        }
        Q[(j * M + m) * K + k] = s;
      }
    }
  }
  const z = new Float64Array(g);
  const delta = new Float64Array(g);
  let changed = 0;
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    const e = E.subarray(r * cols, (r + 1) * cols);
    const P = PH.subarray(r * cols, (r + 1) * cols);
    for (let j = 0; j < G; j++) {
      const j0 = j * g;
      for (let m = 0; m < M; m++) {
        const ci = (r * G + j) * M + m;
        const a = codes[ci]!;
        const ob = (m * K + a) * g;
        // hc = H_jj·c_old; z = −2s·(P_j + s·hc); Δ_k = const + c_k·z + s²·Q_k
        for (let p = 0; p < g; p++) {
          let t = 0;
          for (let q = 0; q < g; q++) t += H[(j0 + p) * cols + j0 + q]! * books[ob + q]!;
          hc[p] = t;
          z[p] = -2 * s * (P[j0 + p]! + s * t);
        }
        const qrow = (j * M + m) * K;
        const s2 = s * s;
        let best = a;
        let bestVal = 0;
        for (let p = 0; p < g; p++) bestVal += books[ob + p]! * z[p]!;
        bestVal += s2 * Q[qrow + a]!;
        for (let k = 0; k < K; k++) {
          const kb = (m * K + k) * g;
          let val = s2 * Q[qrow + k]!;
          for (let p = 0; p < g; p++) val += books[kb + p]! * z[p]!;
          if (val < bestVal - 1e-15 * Math.abs(bestVal)) { bestVal = val; best = k; }
        }
        if (best === a) continue;
        codes[ci] = best;
        changed++;
        const nb = (m * K + best) * g;
        for (let p = 0; p < g; p++) { delta[p] = s * (books[ob + p]! - books[nb + p]!); e[j0 + p]! += delta[p]!; }
        // P += H[:, slice]·δ, read as rows of the symmetric H (contiguous)
        for (let p = 0; p < g; p++) {
          const d = delta[p]!;
          if (d === 0) continue;
          const hr = (j0 + p) * cols;
          for (let i = 0; i < cols; i++) P[i]! += H[hr + i]! * d;
        }
      }
    }
  }
  return changed;
}

/**
 * Least squares for codebook m with the others fixed: minimise Σ_r ‖s_r·A_r·u − t_r‖²_H over its
 * K·g entries u, where t_r = w_r − s_r·(the other codebooks' part). Normal equations N·u = y by
 * conjugate gradients from the current codebook; unused entries keep their values.
 */
async function updateCodebook(st: VqState, m: number): Promise<void> {
  const { rows, cols, g, M, K, G, H, HW, books, codes, scales } = st;
  const n = K * g;
  const y = new Float64Array(n);
  const other = new Float64Array(cols);
  const hOther = new Float64Array(cols);
  // y = Σ_r s_r·A_rᵀ·H·(w_r − s_r·other_r)
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    if (M > 1) {
      st.decodeRow(r, other, m);
      matVec(H, other, 0, hOther, 0, cols);
    }
    for (let j = 0; j < G; j++) {
      const base = codes[(r * G + j) * M + m]! * g;
      for (let p = 0; p < g; p++) y[base + p]! += s * (HW[r * cols + j * g + p]! - (M > 1 ? s * hOther[j * g + p]! : 0));
    }
  }
  // N = Σ_r s_r²·A_rᵀ·H·A_r, formed when it fits (n ≤ 2048), else applied row by row
  const formed = n <= 2048;
  let N: Float64Array | undefined;
  if (formed && st.backend.native) {
    N = new Float64Array(n * n);
    await native.vqNormal({ rows, cols, dim: g, codebooks: M, K }, m, H, codes, scales, N);
  } else if (formed) {
    N = new Float64Array(n * n);
    // occurrences (r, j) bucketed by code, so that N's g rows of one code stay in cache while every
    // occurrence of that code adds its H rows, scattered to the columns of its row's codes
    const off = new Int32Array(rows * G);
    const count = new Int32Array(K + 1);
    for (let i = 0; i < rows * G; i++) { const c = codes[i * M + m]!; off[i] = c * g; count[c + 1]!++; }
    for (let k = 0; k < K; k++) count[k + 1]! += count[k]!;
    const order = new Int32Array(rows * G);
    const fill = count.slice(0, K);
    for (let i = 0; i < rows * G; i++) order[fill[codes[i * M + m]!]!++] = i;
    for (let t = 0; t < rows * G; t++) {
      const i = order[t]!;
      const r = (i / G) | 0;
      const j = i - r * G;
      const s2 = scales[r]! ** 2;
      const rowOff = r * G;
      for (let p = 0; p < g; p++) {
        const hrow = (j * g + p) * cols;
        const nrow = (off[i]! + p) * n;
        for (let jj = 0; jj < G; jj++) {
          const src = hrow + jj * g;
          const dst = nrow + off[rowOff + jj]!;
          for (let q = 0; q < g; q++) N[dst + q]! += s2 * H[src + q]!;
        }
      }
    }
  }
  const diag = new Float64Array(n);
  const x = new Float64Array(cols);
  const hx = new Float64Array(cols);
  const apply = async (u: Float64Array, out: Float64Array): Promise<void> => {
    if (N && st.backend.native) await rowsTimesH(st.backend, N, u, 1, n, out); // N·u, the same sums as matVec
    else if (N) { matVec(N, u, 0, out, 0, n); }
    else {
      out.fill(0);
      for (let r = 0; r < rows; r++) {
        const s2 = scales[r]! ** 2;
        for (let j = 0; j < G; j++) { const b = codes[(r * G + j) * M + m]! * g; for (let p = 0; p < g; p++) x[j * g + p] = u[b + p]!; }
        matVec(H, x, 0, hx, 0, cols);
        for (let j = 0; j < G; j++) { const b = codes[(r * G + j) * M + m]! * g; for (let p = 0; p < g; p++) out[b + p]! += s2 * hx[j * g + p]!; }
      }
    }
    for (let i = 0; i < n; i++) out[i]! += damp[i]! * u[i]!;
  };
  if (N) for (let i = 0; i < n; i++) diag[i] = N[i * n + i]!;
  else {
    for (let r = 0; r < rows; r++) {
      const s2 = scales[r]! ** 2;
      for (let j = 0; j < G; j++) { const b = codes[(r * G + j) * M + m]! * g; for (let p = 0; p < g; p++) diag[b + p]! += s2 * H[(j * g + p) * cols + j * g + p]!; }
    }
  }
  let mean = 0;
  let used = 0;
  for (let i = 0; i < n; i++) if (diag[i]! > 0) { mean += diag[i]!; used++; }
  mean = used ? mean / used : 1;
  // entries no code uses are held at their values (a unit spring); the rest get a tiny ridge
  const damp = Float64Array.from(diag, (d) => (d > 0 ? 1e-9 * mean : mean));
  // the springs pull toward the current codebook, so the solve never raises the layer loss
  const u0 = books.subarray(m * n, (m + 1) * n);
  for (let i = 0; i < n; i++) y[i]! += damp[i]! * u0[i]!;
  const u = Float64Array.from(u0);
  await conjugateGradient(apply, y, u, Float64Array.from(diag, (d, i) => d + damp[i]!), 4 * Math.ceil(Math.sqrt(n)) + 20, 1e-10);
  books.set(u, m * n);
}

/** Jacobi-preconditioned conjugate gradients for A·x = b, from the given x. */
async function conjugateGradient(
  apply: (u: Float64Array, out: Float64Array) => Promise<void>, b: Float64Array, x: Float64Array, diag: Float64Array, maxIter: number, tol: number,
): Promise<void> {
  const n = b.length;
  const r = new Float64Array(n);
  const z = new Float64Array(n);
  const p = new Float64Array(n);
  const Ap = new Float64Array(n);
  await apply(x, Ap);
  let bn = 0;
  for (let i = 0; i < n; i++) { r[i] = b[i]! - Ap[i]!; bn += b[i]! * b[i]!; }
  if (bn === 0) return;
  for (let i = 0; i < n; i++) { z[i] = r[i]! / diag[i]!; p[i] = z[i]!; }
  let rz = 0;
  for (let i = 0; i < n; i++) rz += r[i]! * z[i]!;
  for (let it = 0; it < maxIter; it++) {
    await apply(p, Ap);
    let pAp = 0;
    for (let i = 0; i < n; i++) pAp += p[i]! * Ap[i]!;
    if (!(pAp > 0)) return;
    const alpha = rz / pAp;
    let rn = 0;
    for (let i = 0; i < n; i++) { x[i]! += alpha * p[i]!; r[i]! -= alpha * Ap[i]!; rn += r[i]! * r[i]!; }
    if (rn <= tol * tol * bn) return;
    let rz2 = 0;
    for (let i = 0; i < n; i++) { z[i] = r[i]! / diag[i]!; rz2 += r[i]! * z[i]!; }
    const beta = rz2 / rz;
    rz = rz2;
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!;
  }
}

/** Per-row least-squares scales: s_r = v_rᵀ·H·w_r / v_rᵀ·H·v_r. */
async function updateScales(st: VqState): Promise<void> {
  const { rows, cols, H, HW } = st;
  const V = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) st.decodeRow(r, V.subarray(r * cols, (r + 1) * cols));
  const HV = new Float64Array(rows * cols);
  await rowsTimesH(st.backend, H, V, rows, cols, HV);
  for (let r = 0; r < rows; r++) {
    let num = 0;
    let den = 0;
    for (let c = r * cols; c < (r + 1) * cols; c++) { num += V[c]! * HW[c]!; den += V[c]! * HV[c]!; }
    if (den > 0 && num > 0) st.scales[r] = num / den;
  }
}

/** Checks a spec against a layer shape; returns the problem, if any. */
export function vqProblem(spec: VqSpec, rows: number, cols: number): string | undefined {
  if (!Number.isInteger(spec.dim) || spec.dim < 1 || spec.dim > VQ_LIMITS.maxDim) return `vector dimension ${spec.dim} is not in 1..${VQ_LIMITS.maxDim}`;
  if (cols % spec.dim !== 0) return `vector dimension ${spec.dim} does not divide the ${cols} input columns`;
  if (!Number.isInteger(spec.bits) || spec.bits < 1 || spec.bits > VQ_LIMITS.maxBits) return `code width ${spec.bits} is not in 1..${VQ_LIMITS.maxBits}`;
  if (!Number.isInteger(spec.codebooks) || spec.codebooks < 1 || spec.codebooks > VQ_LIMITS.maxBooks) return `codebooks ${spec.codebooks} is not in 1..${VQ_LIMITS.maxBooks}`;
  if (rows < 1) return 'empty layer';
  return undefined;
}

/** AQLM for one layer: W (rows × cols) against H (cols × cols). */
export async function vqQuantize(W: Float32Array, Hin: Float32Array, rows: number, cols: number, spec: VqSpec, opts: LongRunOptions = {}): Promise<VqResult> {
  const problem = vqProblem(spec, rows, cols);
  if (problem) throw new Error(problem);
  if (W.length !== rows * cols || Hin.length !== cols * cols) throw new Error(`vq: W has ${W.length} values for ${rows}x${cols}, H ${Hin.length}`);
  const H = Float64Array.from(Hin);
  let dmean = 0;
  for (let i = 0; i < cols; i++) dmean += H[i * cols + i]!;
  dmean /= cols;
  const lam = (spec.percdamp ?? 0.01) * (dmean || 1);
  for (let i = 0; i < cols; i++) H[i * cols + i] = (H[i * cols + i]! === 0 ? dmean || 1 : H[i * cols + i]!) + lam;
  // the objective only sees H's symmetric part: make it exactly symmetric, so its rows are its columns
  for (let i = 0; i < cols; i++) for (let j = i + 1; j < cols; j++) { const a = 0.5 * (H[i * cols + j]! + H[j * cols + i]!); H[i * cols + j] = a; H[j * cols + i] = a; }
  const backend = vqBackend(spec.engine, spec.device);
  const st = new VqState(Float64Array.from(W), H, rows, cols, spec.dim, spec.codebooks, spec.bits, backend);
  await st.init();
  const rng = new Rng(spec.seed ?? 0);
  const rounds = spec.iterations ?? 8;
  const tol = spec.tolerance ?? 0.01;
  const total = rounds + 1;
  const what = 'vector quantization';
  throwIfAborted(opts.signal, what);
  await initialise(st, spec, rng);
  let prev = await st.loss();
  const history = [prev];
  opts.onProgress?.({ done: 1, total, label: 'k-means' });
  for (let it = 0; it < rounds; it++) {
    await yieldToLoop();
    throwIfAborted(opts.signal, what);
    await updateCodes(st);
    for (let m = 0; m < spec.codebooks; m++) await updateCodebook(st, m);
    if (spec.scales !== false) await updateScales(st);
    const cur = await st.loss();
    history.push(cur);
    opts.onProgress?.({ done: it + 2, total, label: `round ${it + 1}` });
    if (prev - cur < tol * prev) break;
    prev = cur;
  }
  const layer = st.toLayer(spec.bits);
  const weights = vqDecode(layer);
  const loss = layerLoss(W, weights, Hin, rows, cols);
  const base = layerLoss(W, new Float32Array(W.length), Hin, rows, cols);
  const ranOn = backend.native ? [...backend.used].sort().join('+') || 'cpu' : 'ts';
  return { layer, weights, history, loss, relError: base > 0 ? loss / base : 0, ranOn };
}
