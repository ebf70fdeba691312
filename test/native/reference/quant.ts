/** Float64 reference of GPTQ's min-max quantiser and RTN (see native/src/quant_grid.cc). */

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
  if (s.symmetric) {
    xmax = Math.max(Math.abs(xmin), xmax);
    xmin = -xmax;
  }
  if (xmin === 0 && xmax === 0) {
    xmin = -1;
    xmax = 1;
  }
  const scale = (xmax - xmin) / maxq;
  return { scale, zero: s.symmetric ? (maxq + 1) / 2 : roundEven(-xmin / scale) };
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

/** RTN: per row / group params on W, codes and dequantised values. */
export function rtnRef(W: ArrayLike<number>, rows: number, cols: number, s: RefQuantSpec): { codes: Uint8Array; Q: Float64Array; params: RefParams[] } {
  const g = s.groupSize || cols;
  const ng = cols / g;
  const maxq = 2 ** s.bits - 1;
  const codes = new Uint8Array(rows * cols);
  const Q = new Float64Array(rows * cols);
  const params: RefParams[] = [];
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < ng; k++) {
      const slice = Array.from({ length: g }, (_, j) => W[r * cols + k * g + j]);
      const p = fitParams(slice, s);
      params.push(p);
      for (let j = 0; j < g; j++) {
        const q = quantCode(slice[j], p, maxq);
        codes[r * cols + k * g + j] = q;
        Q[r * cols + k * g + j] = dequant(q, p);
      }
    }
  return { codes, Q, params };
}
