/** Reference MatMulNBits bit packing, written independently of native/src/pack.cc: value by value. */

/** Packs values of `bits` bits into a little-endian bit stream, value i at bits [i·bits, (i+1)·bits). */
export function packBits(values: ArrayLike<number>, bits: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let acc = 0; // bits pending in `acc`, low first
  let nacc = 0;
  let o = 0;
  for (let i = 0; i < values.length; i++) {
    acc |= values[i] << nacc;
    nacc += bits;
    while (nacc >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      nacc -= 8;
    }
  }
  if (nacc > 0) out[o] = acc & 0xff;
  return out;
}

/** B [N][nBlocks][blob] of MatMulNBits for codes N×K. */
export function packMatMulNBitsRef(codes: Uint8Array, N: number, K: number, bits: number, bs: number): Uint8Array {
  const nb = Math.ceil(K / bs);
  const blob = Math.ceil((bs * bits) / 8);
  const out = new Uint8Array(N * nb * blob);
  for (let n = 0; n < N; n++)
    for (let b = 0; b < nb; b++) {
      const vals = Array.from({ length: bs }, (_, i) => (b * bs + i < K ? codes[n * K + b * bs + i] : 0));
      out.set(packBits(vals, bits, blob), (n * nb + b) * blob);
    }
  return out;
}

/** IEEE half → float, for checking fp16 outlier values. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float → nearest half (ties to even), as a float64 value. */
export function roundToHalf(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  let q = a / ulp;
  const f = Math.floor(q);
  q = q - f > 0.5 || (q - f === 0.5 && f % 2 === 1) ? f + 1 : f;
  return Math.sign(x) * q * ulp;
}
