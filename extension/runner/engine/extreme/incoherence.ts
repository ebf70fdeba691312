/**
 * Incoherence processing (QuIP / QuIP#): quantize W' = U·W·Vᵀ against H' = V·H·Vᵀ, with U (rows)
 * and V (columns) randomized Hadamard transforms, then W ≈ Uᵀ·Ŵ'·V. Rotating spreads a layer's
 * outlier weights and outlier input features over all coordinates, so a per-channel grid or a small
 * codebook fits the rotated weight far better; GPTQ with the rotated Hessian is QuIP's LDLQ.
 *
 * The sign vectors come from a seed per size (`incoherenceForLayer`): every layer with an input (or
 * output) of n features uses the same V (or U), which is still random with respect to any one
 * weight; an export then stores one sign vector per size, and layers reading one activation could
 * share its rotation.
 */
import { Rotation, rotateHessian, rotateMatrix } from './hadamard';

/** The two rotations of one layer; a side is absent when its size has no Hadamard block. */
export interface Incoherence {
  /** U, size rows (output features). */
  out?: Rotation;
  /** V, size cols (input features). */
  in?: Rotation;
}

/** A 31-bit seed from a string and a run seed (FNV-1a), so the same name gives the same signs. */
export function seedOf(text: string, seed = 0): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) & 0x7fffffff;
}

/** Rotations for a rows×cols layer; sides that cannot mix (no Hadamard block ≥ 2) are left out. */
export function incoherenceFor(rows: number, cols: number, seeds: { in: number; out: number }): Incoherence {
  const out = Rotation.random(rows, seeds.out);
  const inn = Rotation.random(cols, seeds.in);
  return { ...(out.mixes ? { out } : {}), ...(inn.mixes ? { in: inn } : {}) };
}

/** The rotations of a rows×cols layer in a run with this seed: one sign vector per size. */
export function incoherenceForLayer(rows: number, cols: number, runSeed = 0): Incoherence {
  return incoherenceFor(rows, cols, { in: seedOf(`n${cols}`, runSeed), out: seedOf(`n${rows}`, runSeed) });
}

/** W' = U·W·Vᵀ and H' = V·H·Vᵀ (float32 copies; the inputs are not changed). */
export function rotateLayer(W: Float32Array, H: Float32Array | undefined, rows: number, cols: number, inc: Incoherence): { W: Float32Array; H?: Float32Array } {
  const w = Float64Array.from(W);
  rotateMatrix(w, rows, cols, inc.out, inc.in);
  const h = H && inc.in ? rotateHessian(H, cols, inc.in) : H ? Float64Array.from(H) : undefined;
  return { W: Float32Array.from(w), ...(h ? { H: Float32Array.from(h) } : {}) };
}

/** W = Uᵀ·W'·V: a rotated (quantised) weight back in the layer's own basis. */
export function unrotateWeight(Wr: Float32Array, rows: number, cols: number, inc: Incoherence): Float32Array {
  const w = Float64Array.from(Wr);
  rotateMatrix(w, rows, cols, inc.out, inc.in, true);
  return Float32Array.from(w);
}

/** G' = U·G·Vᵀ: a gradient w.r.t. W expressed w.r.t. W' (the rotation is orthogonal). */
export function rotateGradient(G: Float32Array, rows: number, cols: number, inc: Incoherence): Float32Array {
  return rotateLayer(G, undefined, rows, cols, inc).W;
}

/**
 * Max-to-RMS ratio of a matrix's entries, the incoherence QuIP bounds (μ: max|W_ij| ≤ μ·‖W‖_F/√(rows·cols)).
 * Used by tests and the log to show that a rotation made a layer incoherent.
 */
export function incoherenceOf(W: ArrayLike<number>): number {
  let max = 0;
  let ss = 0;
  for (let i = 0; i < W.length; i++) {
    const v = Math.abs(W[i]!);
    if (v > max) max = v;
    ss += v * v;
  }
  return ss > 0 ? max / Math.sqrt(ss / W.length) : 0;
}
