// VQ's inner loops on CUDA (native/src/cuda/vq.cu) against the CPU path (run on the GPU machine;
// skipped without a usable GPU). Both are float64; the device fuses multiply-adds and takes the
// best codeword by a parallel argmin, so sums agree to ~1e-15 relative and a code may differ where
// two codewords tie to rounding, after which the greedy trajectories part: the whole layer's loss
// is compared within 1e-3 relative, the single calls far tighter.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backendInfo, vqCodes, vqNearest, vqRowsTimesH } from '../../native/index';
import { vqQuantize } from '../../extension/runner/engine/extreme/vq';
import { makeLayer, mismatches } from '../native/helpers';

const info = backendInfo();
const skip = info.cuda.devices.length === 0 ? `no usable GPU (${info.cuda.error ?? 'none'})` : false;

function seeded(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5);
}
const maxRel = (a: Float64Array, b: Float64Array): number => {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
};

test('vqRowsTimesH on CUDA equals the CPU to 1e-12 (relative to the largest entry)', { skip }, async () => {
  for (const [rows, n] of [[1, 1024], [37, 192], [300, 2880]] as const) {
    const A = seeded(n * n, 1);
    const H = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] = A[i * n + j]! + A[j * n + i]!;
    const X = seeded(rows * n, 2);
    const a = new Float64Array(rows * n), b = new Float64Array(rows * n);
    const r = await vqRowsTimesH(H, X, rows, n, a, { device: 'cuda' });
    await vqRowsTimesH(H, X, rows, n, b, { device: 'cpu' });
    assert.equal(r.device, 'cuda');
    assert.ok(maxRel(a, b) < 1e-12, `${rows}×${n}: ${maxRel(a, b)}`);
  }
});

test('vqNearest on CUDA: the CPU distances to 1e-12, the same centroid but at rounding ties', { skip }, async () => {
  const n = 200_000, g = 4, K = 256;
  const P = seeded(n * g, 3), C = seeded(K * g, 4);
  const a = new Int32Array(n), b = new Int32Array(n), da = new Float64Array(n), db = new Float64Array(n);
  await vqNearest(P, n, g, C, K, a, da, { device: 'cuda' });
  await vqNearest(P, n, g, C, K, b, db, { device: 'cpu' });
  assert.ok(maxRel(da, db) < 1e-12);
  assert.ok(mismatches(a, b) <= 10, `${mismatches(a, b)} of ${n} assignments differ`);
});

test('vqCodes on CUDA: one pass changes the same codes as the CPU (up to ties)', { skip }, async () => {
  const L = makeLayer(128, 512, 1024, 9);
  const v = await vqQuantize(L.W, L.H, 128, 512, { dim: 4, codebooks: 1, bits: 8, iterations: 0, scales: false, device: 'cpu' });
  // the k-means start, then one code pass from it on each device
  const s = { rows: 128, cols: 512, dim: 4, codebooks: 1, K: 256 };
  const H = Float64Array.from(L.H);
  for (let i = 0; i < 512; i++) {
    H[i * 513] = H[i * 513]! * 1.01 + 1e-6;
    for (let j = i + 1; j < 512; j++) { const m = 0.5 * (H[i * 512 + j]! + H[j * 512 + i]!); H[i * 512 + j] = m; H[j * 512 + i] = m; }
  }
  const books = Float64Array.from(v.layer.books), scales = new Float64Array(128).fill(1);
  const E = Float64Array.from(L.W, (w, i) => w - v.weights[i]!);
  const P = new Float64Array(E.length);
  await vqRowsTimesH(H, E, 128, 512, P, { device: 'cpu' });
  const run = async (device: 'cpu' | 'cuda') => {
    const codes = Int32Array.from(v.layer.codes), e = Float64Array.from(E), p = Float64Array.from(P);
    const r = await vqCodes(s, H, books, scales, codes, e, p, { device });
    return { codes, e, p, changed: r.changed, device: r.device };
  };
  const a = await run('cuda'), b = await run('cpu');
  assert.equal(a.device, 'cuda');
  assert.ok(b.changed > 100, `${b.changed} codes changed`);
  assert.ok(mismatches(a.codes, b.codes) <= 2, `${mismatches(a.codes, b.codes)} codes differ`);
  if (mismatches(a.codes, b.codes) === 0) assert.ok(maxRel(a.p, b.p) < 1e-10, `P: ${maxRel(a.p, b.p)}`);
});

test('vq of a layer on CUDA: the loss history within 1e-3 of the CPU, never increasing; timings', { skip }, async () => {
  for (const [rows, cols] of [[512, 192], [60, 2880]] as const) {
    const L = makeLayer(rows, cols, 4096, 11);
    const spec = { dim: 4, codebooks: 1, bits: 8, scales: false, iterations: 4, tolerance: 0 };
    let t = performance.now();
    const a = await vqQuantize(L.W, L.H, rows, cols, { ...spec, device: 'cuda' });
    const tc = performance.now() - t;
    t = performance.now();
    const b = await vqQuantize(L.W, L.H, rows, cols, { ...spec, device: 'cpu' });
    const tp = performance.now() - t;
    console.log(`vq ${rows}×${cols}: CUDA ${(tc / 1000).toFixed(2)} s (${a.ranOn}), CPU ${(tp / 1000).toFixed(2)} s; loss ${a.loss.toExponential(6)} vs ${b.loss.toExponential(6)}`);
    assert.ok(a.ranOn.includes('cuda'));
    for (let i = 1; i < a.history.length; i++) assert.ok(a.history[i]! <= a.history[i - 1]! * (1 + 1e-9));
    for (let i = 0; i < a.history.length; i++) assert.ok(Math.abs(a.history[i]! - b.history[i]!) <= 1e-3 * b.history[i]!, `round ${i}: ${a.history[i]} vs ${b.history[i]}`);
  }
});
