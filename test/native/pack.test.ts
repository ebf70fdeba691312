// MatMulNBits packing: bit-exact round trips, equality with an independent packer, and ONNX Runtime
// 1.30 (CPU) computing A·dequant(B)ᵀ from our tensors for every bit width it accepts.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as ort from 'onnxruntime-node';

import { MATMUL_NBITS_BITS, packInt8PerChannel, packMatMulNBits, rtn, unpackInt8PerChannel, unpackMatMulNBits } from '../../native/index';
import { buildModel, ELEM } from './reference/onnx-min';
import { packBits, packMatMulNBitsRef } from './reference/pack';
import { randn, rng } from './reference/random';

function randomCodes(n: number, bits: number, seed: number): Uint8Array {
  const u = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(u() * 2 ** bits));
}

for (const bits of [2, 3, 4, 5, 6, 7, 8]) {
  for (const [N, K, bs] of [[16, 256, 64], [5, 200, 32], [3, 48, 128]]) {
    test(`pack/unpack ${bits}-bit N=${N} K=${K} block ${bs}: bit-exact and equal to the reference packer`, async () => {
      const codes = randomCodes(N * K, bits, bits * 1000 + K);
      const nb = Math.ceil(K / bs);
      const zeros = randomCodes(N * nb, bits, bits + 7);
      const p = await packMatMulNBits(codes, { rows: N, cols: K }, bits, bs, zeros);
      assert.equal(p.blobSize, Math.ceil((bs * bits) / 8));
      assert.deepEqual(p.B, packMatMulNBitsRef(codes, N, K, bits, bs));
      const zpRow = Math.ceil((nb * bits) / 8);
      for (let n = 0; n < N; n++)
        assert.deepEqual(p.zeroPoints!.subarray(n * zpRow, (n + 1) * zpRow), packBits(zeros.subarray(n * nb, (n + 1) * nb), bits, zpRow));
      const u = await unpackMatMulNBits(p.B, { rows: N, cols: K }, bits, bs, p.zeroPoints);
      assert.deepEqual(u.codes, codes);
      assert.deepEqual(u.zeros, zeros);
    });
  }
}

test('4-bit layout: even k in the low nibble', async () => {
  const codes = Uint8Array.from([1, 2, 3, 4, ...new Array(12).fill(0)]);
  const p = await packMatMulNBits(codes, { rows: 1, cols: 16 }, 4, 16);
  assert.equal(p.B[0], 0x21);
  assert.equal(p.B[1], 0x43);
});

test('pack refuses codes that do not fit the bit width', async () => {
  const codes = new Uint8Array(32).fill(4);
  await assert.rejects(packMatMulNBits(codes, { rows: 1, cols: 32 }, 2, 16), /does not fit in 2 bits/);
  await assert.rejects(packMatMulNBits(codes, { rows: 1, cols: 32 }, 4, 24), /power of two/);
});

async function runMatMulNBits(
  A: Float32Array,
  M: number,
  N: number,
  K: number,
  bits: number,
  bs: number,
  B: Uint8Array,
  blob: number,
  scales: Float32Array,
  zp: Uint8Array,
): Promise<Float32Array> {
  const nb = Math.ceil(K / bs);
  const model = buildModel(
    { op: 'MatMulNBits', domain: 'com.microsoft', inputs: ['A', 'B', 'scales', 'zp'], outputs: ['Y'], ints: { K, N, bits, block_size: bs } },
    [
      { name: 'B', type: ELEM.uint8, dims: [N, nb, blob], data: B },
      { name: 'scales', type: ELEM.float, dims: [N * nb], data: new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength) },
      { name: 'zp', type: ELEM.uint8, dims: [zp.length], data: zp },
    ],
    [{ name: 'A', type: ELEM.float, dims: [M, K] }],
    [{ name: 'Y', type: ELEM.float, dims: [M, N] }],
    { '': 21, 'com.microsoft': 1 },
  );
  const s = await ort.InferenceSession.create(model);
  try {
    const out = await s.run({ A: new ort.Tensor('float32', A, [M, K]) });
    return out.Y.data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const bits of MATMUL_NBITS_BITS) {
  test(`onnxruntime MatMulNBits (${bits}-bit) computes A·dequant(W)ᵀ from our packing`, async () => {
    const [M, N, K, bs] = [3, 24, 256, 64];
    const W = randn(N * K, bits, 0.1);
    const q = await rtn(W, { rows: N, cols: K }, { bits, groupSize: bs });
    const zeros = Uint8Array.from(q.zeros);
    const p = await packMatMulNBits(q.codes, { rows: N, cols: K }, bits, bs, zeros);
    const A = randn(M * K, 99);
    const Y = await runMatMulNBits(A, M, N, K, bits, bs, p.B, p.blobSize, q.scales, p.zeroPoints!);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let y = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          y += A[m * K + k] * q.weights[n * K + k];
          mag += Math.abs(A[m * K + k] * q.weights[n * K + k]);
        }
        assert.ok(Math.abs(Y[m * N + n] - y) <= 1e-4 * mag + 1e-6, `Y[${m},${n}] = ${Y[m * N + n]}, expected ${y}`);
      }
  });
}

test('bit widths outside MATMUL_NBITS_BITS are refused by onnxruntime (keeps the list honest)', async () => {
  const [N, K, bs, bits] = [4, 64, 32, 3];
  const codes = randomCodes(N * K, bits, 5);
  const zeros = randomCodes(N * 2, bits, 6);
  const p = await packMatMulNBits(codes, { rows: N, cols: K }, bits, bs, zeros);
  await assert.rejects(runMatMulNBits(new Float32Array(K), 1, N, K, bits, bs, p.B, p.blobSize, new Float32Array(N * 2).fill(1), p.zeroPoints!));
});

test('int8 per-channel (QDQ) round trip keeps (q − z)·s', async () => {
  const W = randn(8 * 32, 5, 0.2);
  const q = await rtn(W, { rows: 8, cols: 32 }, { bits: 8 });
  const packed = packInt8PerChannel(q.codes, q.zeros, { rows: 8, cols: 32 });
  for (let i = 0; i < W.length; i++) {
    const r = Math.floor(i / 32);
    assert.equal(packed.values[i] - packed.zeroPoints[r], q.codes[i] - q.zeros[r]);
  }
  const back = unpackInt8PerChannel(packed.values, packed.zeroPoints);
  assert.deepEqual(back.codes, q.codes);
  assert.deepEqual(back.zeros, q.zeros);
});
