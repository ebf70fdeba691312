// The decode subgraph of compressed layers: the exported model loads in stock onnxruntime and gives
// the outputs of the model with the decoded weights written in directly (fake quantisation), for
// MatMul ([in, out] storage), Gemm (transB) and a 1×1 Conv, vector and scalar codes, with and
// without incoherence rotations, at opset 9 (no BitShift, ReduceSum axes as attribute) and 17;
// the bytes it reports are the initializers it added, and the cost model (core/cost) predicts them
// (all but the rotations, which layers of one size share).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { encodeMessage } from '../../../language-server/core/model/onnx-proto';
import { Rng } from '../../../language-server/core/util/rng';
import { bytesToFloat32, dtypeCode, float32ToBytes } from '../../../language-server/core/model/dtype';
import { DecodeWriter } from '../../../extension/runner/export/decode-graph';
import { decodeLayer, type CompressedLayer } from '../../../extension/runner/engine/extreme/compressed';
import { incoherenceFor } from '../../../extension/runner/engine/extreme/incoherence';
import { layoutOfCompressed } from '../../../extension/runner/pipeline/extreme';
import { layerCost } from '../../../language-server/core/cost/cost';
import { planLayer } from '../../../language-server/core/cost/formats';

const D = 48, H = 24, C = 16;

function build(opset: number): Uint8Array {
  const rng = new Rng(opset);
  const f = (n: number): Uint8Array => new Uint8Array(rng.fillNormal(new Float32Array(n), 0.3).buffer);
  const e = ModelEditor.create(`/tmp/qrecipe-decode-${opset}.onnx`, opset);
  e.addGraphValue('input', 'x', 'float32', [2, D]);
  e.addInitializer('w_mm', 'float32', [D, H], f(D * H)); // MatMul B [in, out]
  e.addInitializer('w_gemm', 'float32', [C, H], f(C * H)); // Gemm transB [out, in]
  e.addInitializer('b_gemm', 'float32', [C], f(C));
  e.addInitializer('w_conv', 'float32', [D, C, 1, 1], f(D * C));
  e.addInitializer('shape4', 'int64', [4], new Uint8Array(new BigInt64Array([2n, BigInt(C), 1n, 1n]).buffer));
  e.addNode({ opType: 'MatMul', inputs: ['x', 'w_mm'], outputs: ['h'], name: 'mm' });
  e.addNode({ opType: 'Relu', inputs: ['h'], outputs: ['hr'] });
  e.addNode({ opType: 'Gemm', inputs: ['hr', 'w_gemm', 'b_gemm'], outputs: ['g'], name: 'gemm', attributes: { transB: { i: 1 } } });
  e.addNode({ opType: 'Reshape', inputs: ['g', 'shape4'], outputs: ['g4'] });
  e.addNode({ opType: 'Conv', inputs: ['g4', 'w_conv'], outputs: ['y'], name: 'conv' });
  e.addGraphValue('output', 'y', 'float32', [2, D, 1, 1]);
  return encodeMessage('ModelProto', e.model.proto);
}

function compress(name: string, rows: number, cols: number, kind: 'vector' | 'scalar', rotated: boolean, rng: Rng): CompressedLayer {
  const body: CompressedLayer['body'] = kind === 'vector'
    ? {
      kind, rows, cols, dim: 4, codebooks: 2, bits: 4, codes: Uint8Array.from({ length: rows * (cols / 4) * 2 }, () => rng.int(16)),
      books: rng.fillNormal(new Float32Array(2 * 16 * 4)), scales: Float32Array.from({ length: rows }, () => 0.05 + 0.1 * rng.next()),
    }
    : {
      kind, bits: 2, groupSize: 8, symmetric: false, codes: Uint8Array.from({ length: rows * cols }, () => rng.int(4)),
      scales: Float32Array.from({ length: rows * (cols / 8) }, () => 0.05 + 0.1 * rng.next()), zeros: Float32Array.from({ length: rows * (cols / 8) }, () => rng.int(4)),
    };
  return { name, rows, cols, body, ...(rotated ? { incoherence: incoherenceFor(rows, cols, { in: 5, out: 6 }) } : {}) };
}

/** Rounds codebooks and scales to float16, as the file stores them. */
function toHalf(c: CompressedLayer): void {
  const half = (a: Float32Array): void => a.set(bytesToFloat32(dtypeCode('float16'), float32ToBytes(dtypeCode('float16'), a), a.length));
  half(c.body.scales);
  if (c.body.kind === 'vector') half(c.body.books);
}

for (const opset of [9, 17]) {
  for (const kind of ['vector', 'scalar'] as const) {
    for (const rotated of [false, true]) {
      test(`decode graph at opset ${opset}: ${kind}${rotated ? ' + incoherence' : ''} equals the fake-quant model`, async () => {
        const path = `/tmp/qrecipe-decode-${opset}.onnx`;
        const { writeFileSync } = await import('node:fs');
        writeFileSync(path, build(opset));
        const model = await loadModel(path);
        const inv = inventoryOf(model);
        const rng = new Rng(opset + (kind === 'vector' ? 1 : 2) + (rotated ? 10 : 0));
        const layers = inv.layers.map((l) => ({ l, c: compress(l.name, l.rows, l.cols, kind, rotated, rng) }));
        for (const { c } of layers) toHalf(c);
        // fake quant: the decoded weights written in
        const fq = new ModelEditor(await loadModel(path));
        for (const { l, c } of layers) setLayerWeight(fq, l, decodeLayer(c));
        // export: the decode subgraphs
        const ex = new ModelEditor(await loadModel(path));
        const used = new Set<string>([...ex.graph.initializer.map((t) => t.name!), ...ex.graph.node.flatMap((n) => n.output ?? [])]);
        const before = ex.graph.initializer.length;
        const dw = new DecodeWriter(ex, opset, used);
        let reported = 0;
        for (const { l, c } of layers) {
          const p = dw.write(l, c);
          reported += p.codes + p.books + p.scales + p.zeros + p.rotations;
          // the one cost model predicts every byte but the shared rotations
          const layout = layoutOfCompressed(c);
          assert.equal(layerCost(l, layout, planLayer(l, 'onnx-decode', inv, layout)).total, p.codes + p.books + p.scales + p.zeros, `cost model for ${l.name}`);
        }
        dw.finish();
        const added = ex.graph.initializer.slice(before - layers.length).filter((t) => !t.name!.startsWith('_shape') && !t.name!.startsWith('_pack') && !t.name!.startsWith('_c') && !t.name!.startsWith('_axes'));
        const addedBytes = added.reduce((a, t) => a + (t.rawData?.byteLength ?? 0), 0);
        assert.equal(reported, addedBytes, 'reported bytes = written codes, codebooks, scales, zeros, rotations');
        const x = new ort.Tensor('float32', new Rng(1).fillNormal(new Float32Array(2 * D)), [2, D]);
        const run = async (bytes: Uint8Array): Promise<Float32Array> => {
          const s = await ort.InferenceSession.create(bytes);
          const y = (await s.run({ x })).y!.data as Float32Array;
          await s.release();
          return y;
        };
        const a = await run(encodeMessage('ModelProto', fq.model.proto));
        const b = await run(encodeMessage('ModelProto', ex.model.proto));
        let num = 0, den = 0;
        for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += a[i]! ** 2; }
        assert.ok(Math.sqrt(num / den) < 1e-5, `relative output difference ${Math.sqrt(num / den)}`);
      });
    }
  }
}
