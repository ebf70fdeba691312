/**
 * A layer in its compressed form, as fine-tuning and the exporters see it: integer codes (scalar
 * grid codes or vector-codebook indices), the continuous parameters (scales, codebooks) and the
 * optional incoherence rotations. W = Uᵀ·Ŵ'·V with Ŵ' decoded from the codes:
 *   scalar: Ŵ'[r, c] = scale[r, g(c)]·(code[r, c] − zero[r, g(c)])     (groups of `groupSize` columns)
 *   vector: Ŵ'[r, j·d + p] = scale[r]·Σ_m book[m][code[r, j, m]][p]
 *
 * `backward` maps ∂L/∂W to the continuous parameters; `encodeUnits` re-assigns the codes of chosen
 * units (weights or vectors) to the nearest representable value of a target — PV-Tuning's discrete
 * step.
 */
import type { VqLayer } from './vq';
import { vqDecode } from './vq';
import type { Incoherence } from './incoherence';
import { rotateGradient, unrotateWeight } from './incoherence';

export interface ScalarBody {
  kind: 'scalar';
  bits: number;
  /** Columns per group (cols for one group per row). */
  groupSize: number;
  symmetric: boolean;
  codes: Uint8Array;
  /** [rows][groups]. */
  scales: Float32Array;
  zeros: Float32Array;
}

export interface VectorBody extends VqLayer {
  kind: 'vector';
}

export interface CompressedLayer {
  name: string;
  rows: number;
  cols: number;
  body: ScalarBody | VectorBody;
  incoherence?: Incoherence;
}

export function groupCount(b: ScalarBody, cols: number): number {
  return Math.ceil(cols / b.groupSize);
}

/** Ŵ' (in the rotated basis when the layer has rotations). */
export function decodeRotated(l: CompressedLayer): Float32Array {
  const b = l.body;
  if (b.kind === 'vector') return vqDecode(b);
  const G = groupCount(b, l.cols);
  const out = new Float32Array(l.rows * l.cols);
  for (let r = 0; r < l.rows; r++) {
    for (let c = 0; c < l.cols; c++) {
      const k = r * G + Math.floor(c / b.groupSize);
      out[r * l.cols + c] = b.scales[k]! * (b.codes[r * l.cols + c]! - b.zeros[k]!);
    }
  }
  return out;
}

/** The layer's weight W (rows × cols) in its own basis. */
export function decodeLayer(l: CompressedLayer): Float32Array {
  const w = decodeRotated(l);
  return l.incoherence ? unrotateWeight(w, l.rows, l.cols, l.incoherence) : w;
}

/**
 * The continuous parameters of a layer, by name (views into the layer's own arrays). A vector layer
 * made without row scales (all 1: none is stored) keeps none, so training does not add them.
 */
export function continuousParams(l: CompressedLayer): Map<string, Float32Array> {
  const b = l.body;
  if (b.kind === 'scalar') return new Map([['scales', b.scales]]);
  return b.scales.every((s) => s === 1) ? new Map([['books', b.books]]) : new Map([['books', b.books], ['scales', b.scales]]);
}

/**
 * ∂L/∂(continuous parameters) from G = ∂L/∂W (rows × cols), and G' = ∂L/∂Ŵ' (what the code step
 * follows). Returned arrays are keyed like `continuousParams`.
 */
export function backward(l: CompressedLayer, G: Float32Array): { grads: Map<string, Float32Array>; rotated: Float32Array } {
  const { rows, cols } = l;
  const Gr = l.incoherence ? rotateGradient(G, rows, cols, l.incoherence) : G;
  const b = l.body;
  if (b.kind === 'scalar') {
    const groups = groupCount(b, cols);
    const gs = new Float32Array(b.scales.length);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const k = r * groups + Math.floor(c / b.groupSize);
        gs[k]! += Gr[r * cols + c]! * (b.codes[r * cols + c]! - b.zeros[k]!);
      }
    }
    return { grads: new Map([['scales', gs]]), rotated: Gr };
  }
  const { dim: g, codebooks: M } = b;
  const K = 1 << b.bits;
  const G_ = cols / g;
  const gBooks = new Float32Array(b.books.length);
  const gScales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = b.scales[r]!;
    let gsr = 0;
    for (let j = 0; j < G_; j++) {
      for (let m = 0; m < M; m++) {
        const base = (m * K + b.codes[(r * G_ + j) * M + m]!) * g;
        for (let p = 0; p < g; p++) {
          const gr = Gr[r * cols + j * g + p]!;
          gBooks[base + p]! += s * gr;
          gsr += gr * b.books[base + p]!;
        }
      }
    }
    gScales[r] = gsr;
  }
  return { grads: new Map([['books', gBooks], ['scales', gScales]]), rotated: Gr };
}

/** Number of code units: weights (scalar) or vectors (vector). */
export function unitCount(l: CompressedLayer): number {
  return l.body.kind === 'vector' ? l.rows * (l.cols / l.body.dim) : l.rows * l.cols;
}

/** Weights per unit. */
export function unitSize(l: CompressedLayer): number {
  return l.body.kind === 'vector' ? l.body.dim : 1;
}

/**
 * Re-assigns the codes of the given units so that Ŵ' comes nearest (L2) to `target` (rows × cols,
 * rotated basis) on each unit; returns how many units changed.
 */
export function encodeUnits(l: CompressedLayer, target: Float32Array, units: Int32Array): number {
  const b = l.body;
  let changed = 0;
  if (b.kind === 'scalar') {
    const groups = groupCount(b, l.cols);
    const maxq = (1 << b.bits) - 1;
    for (const u of units) {
      const r = Math.floor(u / l.cols);
      const c = u - r * l.cols;
      const k = r * groups + Math.floor(c / b.groupSize);
      const s = b.scales[k]!;
      if (s === 0) continue;
      const q = Math.min(maxq, Math.max(0, Math.round(target[u]! / s + b.zeros[k]!)));
      if (q !== b.codes[u]) { b.codes[u] = q; changed++; }
    }
    return changed;
  }
  const { dim: g, codebooks: M } = b;
  const K = 1 << b.bits;
  const G_ = l.cols / g;
  const res = new Float64Array(g);
  for (const u of units) {
    const r = Math.floor(u / G_);
    const j = u - r * G_;
    const s = b.scales[r]!;
    if (s === 0) continue;
    // residual of the unscaled target against the other codebooks, one codebook at a time (greedy)
    let any = false;
    for (let m = 0; m < M; m++) {
      for (let p = 0; p < g; p++) res[p] = target[r * l.cols + j * g + p]! / s;
      for (let mm = 0; mm < M; mm++) {
        if (mm === m) continue;
        const base = (mm * K + b.codes[u * M + mm]!) * g;
        for (let p = 0; p < g; p++) res[p]! -= b.books[base + p]!;
      }
      let best = b.codes[u * M + m]!;
      let bestD = Infinity;
      for (let k = 0; k < K; k++) {
        const base = (m * K + k) * g;
        let d = 0;
        for (let p = 0; p < g; p++) { const t = res[p]! - b.books[base + p]!; d += t * t; }
        if (d < bestD) { bestD = d; best = k; }
      }
      if (best !== b.codes[u * M + m]) { b.codes[u * M + m] = best; any = true; }
    }
    if (any) changed++;
  }
  return changed;
}

/**
 * The `count` units where `target` and Ŵ' differ most (squared L2 over the unit), largest first:
 * PV-Tuning's choice of which codes to re-assign.
 */
export function largestChanges(l: CompressedLayer, target: Float32Array, current: Float32Array, count: number): Int32Array {
  const n = unitCount(l);
  const size = unitSize(l);
  const score = new Float64Array(n);
  for (let u = 0; u < n; u++) {
    let s = 0;
    for (let p = 0; p < size; p++) { const d = target[u * size + p]! - current[u * size + p]!; s += d * d; }
    score[u] = s;
  }
  const k = Math.max(0, Math.min(n, count));
  if (k === 0) return new Int32Array(0);
  // threshold by selection on a copy, then collect (ties broken by index)
  const sorted = Float64Array.from(score).sort();
  const thr = sorted[n - k]!;
  const out: number[] = [];
  for (let u = 0; u < n && out.length < k; u++) if (score[u]! > thr) out.push(u);
  for (let u = 0; u < n && out.length < k; u++) if (score[u] === thr) out.push(u);
  return Int32Array.from(out.sort((a, b) => score[b]! - score[a]!));
}
