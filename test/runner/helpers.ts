// Shared helpers of the runner tests: synthetic ONNX models, a reference min-max quantiser
// (GPTQ's, written out plainly), and onnxruntime runs.
import { Rng } from '../../language-server/core/util/rng';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../extension/runner/engine/model/writer';
import type { QuantizedLayer } from '../../extension/runner/export/quant-store';

/** Seeded uniform [0, 1) numbers: the core's generator, so tests and product share one. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

export function randn(n: number, rand: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return out;
}

/**
 * Round-to-nearest with the asymmetric (or symmetric) min-max grid per group of columns, as the
 * addon fits it: symmetric grids use the full signed range (the extreme of larger magnitude is code 0).
 */
export function quantizeRef(name: string, w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, symmetric = false): QuantizedLayer {
  const groups = Math.ceil(cols / groupSize);
  const maxq = (1 << bits) - 1;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const zeros = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let lo = 0;
      let hi = 0;
      for (let c = g * groupSize; c < Math.min(cols, (g + 1) * groupSize); c++) { lo = Math.min(lo, w[r * cols + c]!); hi = Math.max(hi, w[r * cols + c]!); }
      if (lo === 0 && hi === 0) { lo = -1; hi = 1; }
      const scale = symmetric ? Math.fround((hi > -lo ? hi : lo) / -((maxq + 1) / 2)) : (hi - lo) / maxq;
      const zero = symmetric ? (maxq + 1) / 2 : Math.round(-lo / scale);
      scales[r * groups + g] = scale;
      zeros[r * groups + g] = zero;
      for (let c = g * groupSize; c < Math.min(cols, (g + 1) * groupSize); c++) {
        codes[r * cols + c] = Math.min(maxq, Math.max(0, Math.round(w[r * cols + c]! / scale) + zero));
      }
    }
  }
  return { name, rows, cols, bits, groupSize, symmetric, codes, scales, zeros };
}

const f32 = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A: [4,64] → MatMul(W1: 64×48 stored [in,out]) → Gemm(W2: [32,48], transB=1, bias [32]) → Y [4,32]. */
export async function writeMlpModel(file: string, seed = 1): Promise<void> {
  const rand = rng(seed);
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'A', 'float32', [4, 64]);
  e.addGraphValue('output', 'Y', 'float32', [4, 32]);
  e.addInitializer('w1', 'float32', [64, 48], f32(randn(64 * 48, rand, 0.1)));
  e.addInitializer('w2', 'float32', [32, 48], f32(randn(32 * 48, rand, 0.1)));
  e.addInitializer('b2', 'float32', [32], f32(randn(32, rand, 0.1)));
  e.addNode({ opType: 'MatMul', name: 'fc1', inputs: ['A', 'w1'], outputs: ['H'] });
  e.addNode({ opType: 'Gemm', name: 'fc2', inputs: ['H', 'w2', 'b2'], outputs: ['Y'], attributes: { transB: { i: 1 } } });
  await e.save(file);
}

/** X: [1,3,8,8] → Conv(8×3×3×3, bias) → Y, at the given opset (per-axis DequantizeLinear needs 13). */
export async function writeConvModel(file: string, opset: number, seed = 2): Promise<void> {
  const rand = rng(seed);
  const e = ModelEditor.create(file, opset);
  e.addGraphValue('input', 'X', 'float32', [1, 3, 8, 8]);
  e.addGraphValue('output', 'Y', 'float32', [1, 8, 6, 6]);
  e.addInitializer('wc', 'float32', [8, 3, 3, 3], f32(randn(8 * 27, rand, 0.3)));
  e.addInitializer('bc', 'float32', [8], f32(randn(8, rand, 0.1)));
  e.addNode({ opType: 'Conv', name: 'conv', inputs: ['X', 'wc', 'bc'], outputs: ['Y'] });
  await e.save(file);
}

/**
 * Runs a model once. onnxruntime fuses DequantizeLinear(int4, blocked) + MatMul into MatMulNBits at
 * accuracy level 4 (int8 activations) by default; `exact` asks for float activations, so an
 * export can be compared with its fake-quant model to float precision.
 */
export async function runOnce(file: string, feeds: Record<string, { data: Float32Array | BigInt64Array; dims: number[] }>, exact = true): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file, exact ? { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } } : {});
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = v.data instanceof BigInt64Array ? new ort.Tensor('int64', v.data, v.dims) : new ort.Tensor('float32', v.data, v.dims);
    const out = await s.run(inputs);
    return out[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A: [2,320] → MatMul(W: 320×24 stored [in,out]) → Y: wide enough for several MatMulNBits blocks per row. */
export async function writeWideModel(file: string, seed = 4): Promise<void> {
  const rand = rng(seed);
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'A', 'float32', [2, 320]);
  e.addGraphValue('output', 'Y', 'float32', [2, 24]);
  e.addInitializer('w', 'float32', [320, 24], f32(randn(320 * 24, rand, 0.1)));
  e.addNode({ opType: 'MatMul', name: 'fc', inputs: ['A', 'w'], outputs: ['Y'] });
  await e.save(file);
}
