/**
 * Unfolding a convolution's input into the rows a Hessian needs: each output position becomes one
 * row of in·kh·kw values, ordered like the weight's columns ([out, in, kh, kw] flattened), so that
 * the conv equals W (out × in·kh·kw) times these rows. 1-D and 2-D convolutions, group 1.
 */
export interface ConvGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin_0, begin_1, ..., end_0, end_1, ...] as in ONNX `pads`. */
  pads: number[];
  autoPad: string;
}

function samePads(size: number, k: number, s: number, d: number, upper: boolean): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + (k - 1) * d + 1 - size);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/** Pads per spatial axis [begin, end], resolving auto_pad. */
export function resolvePads(g: ConvGeometry, spatial: number[]): [number, number][] {
  const r = spatial.length;
  return spatial.map((size, a) => {
    if (g.autoPad === 'SAME_UPPER' || g.autoPad === 'SAME_LOWER') {
      return samePads(size, g.kernel[a]!, g.strides[a] ?? 1, g.dilations[a] ?? 1, g.autoPad === 'SAME_UPPER');
    }
    if (g.autoPad === 'VALID') return [0, 0];
    return [g.pads[a] ?? 0, g.pads[a + r] ?? 0];
  });
}

/**
 * x: [N, C, H, W] (or [N, C, L] for 1-D) float32 → rows (N·OH·OW) × (C·kh·kw).
 * Returns the unfolded matrix and its row count.
 */
export function im2col(x: Float32Array, dims: number[], g: ConvGeometry): { rows: number; cols: number; data: Float32Array } {
  const oneD = dims.length === 3;
  const [N, C] = [dims[0]!, dims[1]!];
  const H = oneD ? 1 : dims[2]!;
  const W = oneD ? dims[2]! : dims[3]!;
  const kh = oneD ? 1 : g.kernel[0]!;
  const kw = oneD ? g.kernel[0]! : g.kernel[1]!;
  const [sh, sw] = oneD ? [1, g.strides[0] ?? 1] : [g.strides[0] ?? 1, g.strides[1] ?? 1];
  const [dh, dw] = oneD ? [1, g.dilations[0] ?? 1] : [g.dilations[0] ?? 1, g.dilations[1] ?? 1];
  const pads = resolvePads(g, oneD ? [W] : [H, W]);
  const [ph0, ph1] = oneD ? [0, 0] : pads[0]!;
  const [pw0, pw1] = oneD ? pads[0]! : pads[1]!;
  const OH = Math.floor((H + ph0 + ph1 - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pw0 + pw1 - dw * (kw - 1) - 1) / sw) + 1;
  const cols = C * kh * kw;
  const rows = N * OH * OW;
  const data = new Float32Array(rows * cols);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const row = ((n * OH + oy) * OW + ox) * cols;
        for (let c = 0; c < C; c++) {
          const plane = (n * C + c) * H * W;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph0 + ky * dh;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw0 + kx * dw;
              if (ix < 0 || ix >= W) continue;
              data[row + (c * kh + ky) * kw + kx] = x[plane + iy * W + ix]!;
            }
          }
        }
      }
    }
  }
  return { rows, cols, data };
}
