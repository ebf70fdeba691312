/**
 * Float64 reference of GPTQ's min-max quantiser and RTN (see native/src/quant_grid.cc). Symmetric
 * grids use the full signed range as onnxruntime's blockwise quantiser does: the end of the range
 * of larger magnitude (the negative one on a tie) is code 0, scale = that end / −2^(bits−1).
 */

export interface RefQuantSpec {
  bits: number;
  groupSize?: number;
  symmetric?: boolean;
  mse?: boolean;
}

export interface RefParams {
  scale: number;
  zero: number;
}

/** Round half to even, like torch.round. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function fromRange(xmin: number, xmax: number, s: RefQuantSpec): RefParams {
  const maxq = 2 ** s.bits - 1;
  if (xmin === 0 && xmax === 0) {
    xmin = -1;
    xmax = 1;
  }
  if (s.symmetric) {
    const half = (maxq + 1) / 2;
    return { scale: (xmax > -xmin ? xmax : xmin) / -half, zero: half };
  }
  const scale = (xmax - xmin) / maxq;
  return { scale, zero: roundEven(-xmin / scale) };
}

export function quantCode(x: number, p: RefParams, maxq: number): number {
  return Math.min(maxq, Math.max(0, roundEven(x / p.scale) + p.zero));
}

export function dequant(q: number, p: RefParams): number {
  return p.scale * (q - p.zero);
}

export function fitParams(x: ArrayLike<number>, s: RefQuantSpec): RefParams {
  let xmin = 0;
  let xmax = 0;
  for (let i = 0; i < x.length; i++) {
    xmin = Math.min(xmin, x[i]);
    xmax = Math.max(xmax, x[i]);
  }
  let best = fromRange(xmin, xmax, s);
  if (!s.mse) return best;
  const maxq = 2 ** s.bits - 1;
  let bestErr = Infinity;
  for (let i = 0; i < 80; i++) {
    const p = 1 - i / 100;
    const c = fromRange(p * xmin, p * xmax, s);
    let err = 0;
    for (let k = 0; k < x.length; k++) err += Math.abs(dequant(quantCode(x[k], c, maxq), c) - x[k]) ** 2.4;
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

/** RTN: per row / group params on W (a shorter last group), codes and dequantised values. */
export function rtnRef(W: ArrayLike<number>, rows: number, cols: number, s: RefQuantSpec): { codes: Uint8Array; Q: Float64Array; params: RefParams[] } {
  const g = s.groupSize || cols;
  const ng = Math.ceil(cols / g);
  const maxq = 2 ** s.bits - 1;
  const codes = new Uint8Array(rows * cols);
  const Q = new Float64Array(rows * cols);
  const params: RefParams[] = [];
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < ng; k++) {
      const slice = Array.from({ length: Math.min(g, cols - k * g) }, (_, j) => W[r * cols + k * g + j]);
      const p = fitParams(slice, s);
      params.push(p);
      for (let j = 0; j < slice.length; j++) {
        const q = quantCode(slice[j], p, maxq);
        codes[r * cols + k * g + j] = q;
        Q[r * cols + k * g + j] = dequant(q, p);
      }
    }
  return { codes, Q, params };
}
