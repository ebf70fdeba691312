// The one cost model against written files: every byte the exporter writes for a quantised layer
// is what core/cost counts for it (codes, padding, scales, zero points, outliers), counted again
// from the saved ONNX file, and the whole tiny-LM file is within 1 % of the model size the cost
// model predicts. Also issue #19's defects 5 (QDQ stored 8-bit codes at 4 bits) and 6 (per-channel
// MatMulNBits padded 192 columns to 256).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { floatToHalf, storageBytes } from '../../../language-server/core/model/dtype';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { decodeMessage, type ModelProto } from '../../../language-server/core/model/onnx-proto';
import { summarizeModel } from '../../../language-server/core/model/summary';
import { planLayer, type ExportFormat } from '../../../language-server/core/cost/formats';
import { layerCost, modelSize } from '../../../language-server/core/cost/cost';
import { graphBytes } from '../../../language-server/core/cost/graph';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { exportModel, layoutOf } from '../../../extension/runner/export/onnx-export';
import { dequantize, type QuantizedLayer } from '../../../extension/runner/export/quant-store';
import { maxAbsDiff, quantizeRef, randn, rng, runOnce, writeConvModel, writeMlpModel } from '../helpers';

const ROOT = path.resolve(__dirname, '../../../..');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx');

/** The top-|w| `fraction` of a layer become fp16 outliers: their codes become the code of 0. */
function withOutliers(q: QuantizedLayer, w: Float32Array, fraction: number): QuantizedLayer {
  const n = Math.floor(fraction * q.rows * q.cols + 1e-9);
  if (!n) return q;
  const top = [...w.keys()].sort((a, b) => Math.abs(w[b]!) - Math.abs(w[a]!) || a - b).slice(0, n).sort((a, b) => a - b);
  const codes = q.codes.slice();
  const groups = Math.ceil(q.cols / q.groupSize);
  const rowPtr = new Int32Array(q.rows + 1);
  const colIdx = new Int32Array(n);
  const values = new Uint16Array(n);
  top.forEach((i, k) => {
    const r = Math.floor(i / q.cols);
    const c = i % q.cols;
    codes[i] = q.zeros[r * groups + Math.floor(c / q.groupSize)]!;
    colIdx[k] = c;
    values[k] = floatToHalf(w[i]!);
    rowPtr[r + 1]!++;
  });
  for (let r = 0; r < q.rows; r++) rowPtr[r + 1]! += rowPtr[r]!;
  return { ...q, codes, outliers: { rowPtr, colIdx, values } };
}

interface Spec { bits: number; group: number | 'channel'; symmetric?: boolean; outliers?: number }

/** Quantises the named layers with the reference RTN (and outliers), writes the fake-quant model. */
async function fakeQuant(src: string, dst: string, spec: (l: LayerInfo) => Spec | undefined): Promise<{ quant: QuantizedLayer[]; layers: LayerInfo[] }> {
  const model = await loadModel(src);
  const inv = inventoryOf(model);
  const editor = new ModelEditor(model);
  const quant: QuantizedLayer[] = [];
  const layers: LayerInfo[] = [];
  for (const layer of inv.layers) {
    const s = spec(layer);
    if (!s) continue;
    const w = await getLayerWeight(editor, layer);
    const g = s.group === 'channel' ? layer.cols : Math.min(s.group, layer.cols);
    const q = withOutliers(quantizeRef(layer.name, w, layer.rows, layer.cols, s.bits, g, s.symmetric), w, s.outliers ?? 0);
    setLayerWeight(editor, layer, dequantize(q));
    quant.push(q);
    layers.push(layer);
  }
  await editor.save(dst);
  return { quant, layers };
}

/** Bytes of the initializers written for a layer (named after its tensor), int64 shape tensors aside. */
function writtenBytes(m: ModelProto, tensorName: string): number {
  let n = 0;
  for (const t of m.graph?.initializer ?? []) {
    if (!t.name?.startsWith(`${tensorName}_`) || t.dataType === 7) continue;
    n += t.rawData?.byteLength ?? storageBytes(t.dataType, (t.dims ?? []).reduce((a, d) => a * Number(d), 1));
  }
  return n;
}

async function checkCost(
  src: string,
  format: ExportFormat,
  spec: (l: LayerInfo) => Spec | undefined,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  tag: string,
): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cost-'));
  const fq = path.join(dir, 'fq.onnx');
  const { quant, layers } = await fakeQuant(src, fq, spec);
  const inv = inventoryOf(await loadModel(fq));
  const out = path.join(dir, 'out.onnx');
  const s = await exportModel(fq, quant, format, out);
  const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(out)));
  quant.forEach((q, i) => {
    const layer = layers[i]!;
    const plan = planLayer(layer, format, inv, layoutOf(q));
    const want = layerCost(layer, layoutOf(q), plan);
    const got = s.layers[i]!;
    const label = `${tag} ${layer.name} ${JSON.stringify(layoutOf(q))}`;
    assert.equal(got.encoding, plan.encoding, label);
    assert.deepEqual({ ...got.parts, total: got.bytes }, want, `${label}: written parts vs the cost model`);
    if (plan.encoding !== 'float') assert.equal(writtenBytes(m, layer.tensorName), want.total, `${label}: bytes in the saved file`);
  });
  // what Inspect reads back from the file: the same layers, the same bytes (outliers included)
  const summary = summarizeModel(await loadModel(out));
  const packed = s.layers.filter((l) => l.encoding !== 'float');
  assert.equal(summary.quantized.length, packed.length, `${tag}: layers Inspect finds`);
  assert.equal(summary.quantized.reduce((a, l) => a + l.bytes, 0), packed.reduce((a, l) => a + l.bytes, 0), `${tag}: bytes Inspect counts`);
  assert.deepEqual(summary.quantized.map((l) => l.outliers ?? 0), packed.map((l) => l.parts.nnz), `${tag}: outliers Inspect counts`);
  const ref = await runOnce(fq, feeds);
  const got = await runOnce(out, feeds);
  assert.ok(maxAbsDiff(ref, got) < 1e-4 * Math.max(1, ...ref.map(Math.abs)), `${tag}: export vs fake quant ${maxAbsDiff(ref, got)}`);
}

test('every byte the exporter writes for a layer is the cost model\'s (formats × widths × groups × schemes × outliers), and the export computes the fake-quant model', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cost-src-'));
  const mlp = path.join(dir, 'mlp.onnx');
  await writeMlpModel(mlp);
  const conv17 = path.join(dir, 'conv17.onnx');
  await writeConvModel(conv17, 17);
  const conv11 = path.join(dir, 'conv11.onnx');
  await writeConvModel(conv11, 11);
  const A = { A: { data: randn(4 * 64, rng(3)), dims: [4, 64] } };
  const X = { X: { data: randn(3 * 64, rng(9)), dims: [1, 3, 8, 8] } };
  let n = 0;
  for (const format of ['onnx-matmulnbits', 'onnx-qdq', 'onnx-fakequant'] as const) {
    for (const bits of [2, 3, 4, 8]) {
      // MLP: MatMul 64→48 (stored [in, out]) and Gemm 48→32 (transB); groups of 16, 48 (64 = 48 + 16: a shorter last group), per row
      for (const group of [16, 48, 'channel'] as const) {
        for (const symmetric of [false, true]) {
          for (const outliers of [0, 0.02]) {
            await checkCost(mlp, format, () => ({ bits, group, symmetric, outliers }), A, `mlp ${format}`);
            n++;
          }
        }
      }
      for (const [src, group] of [[conv17, 9], [conv17, 'channel'], [conv11, 9], [conv11, 'channel']] as const) {
        await checkCost(src, format, () => ({ bits, group, symmetric: bits === 4, outliers: bits === 2 ? 0.05 : 0 }), X, `conv ${format}`);
        n++;
      }
    }
  }
  console.log(`# ${n} exports: every layer's bytes equal to the cost model's`);
});

test('the tiny LM: bytes per layer as counted, the whole file within 1 % of the predicted model size; QDQ at 4 bits stores int4 (defect 5); per-channel MatMulNBits does not pad 192 columns (defect 6)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cost-lm-'));
  const linear = (l: LayerInfo): boolean => l.op === 'MatMul' && l.name !== 'lm_head';
  const cases: { format: ExportFormat; spec: Spec; bpw: [number, number] }[] = [
    { format: 'onnx-matmulnbits', spec: { bits: 4, group: 64 }, bpw: [4.5, 4.7] },
    { format: 'onnx-matmulnbits', spec: { bits: 4, group: 'channel' }, bpw: [4.0, 4.5] },
    { format: 'onnx-matmulnbits', spec: { bits: 4, group: 64, symmetric: true }, bpw: [4.4, 4.6] },
    { format: 'onnx-qdq', spec: { bits: 4, group: 64 }, bpw: [4.5, 4.7] },
    { format: 'onnx-qdq', spec: { bits: 4, group: 128, symmetric: true }, bpw: [4.2, 4.4] },
    { format: 'onnx-matmulnbits', spec: { bits: 2, group: 64, outliers: 0.005 }, bpw: [2.5, 3.0] },
    { format: 'onnx-qdq', spec: { bits: 3, group: 64, outliers: 0.005 }, bpw: [4.5, 5.0] },
    { format: 'onnx-fakequant', spec: { bits: 4, group: 64 }, bpw: [32, 32] },
  ];
  const text = readFileSync(path.join(ROOT, 'test/fixtures/tiny-lm/data/heldout.txt'));
  const ids = BigInt64Array.from({ length: 64 }, (_, i) => BigInt(text[i]!));
  for (const c of cases) {
    const fq = path.join(dir, `fq-${c.format}-${c.spec.bits}-${c.spec.group}-${c.spec.symmetric}.onnx`);
    const { quant, layers } = await fakeQuant(LM, fq, (l) => (linear(l) ? c.spec : undefined));
    const inv = inventoryOf(await loadModel(fq));
    const out = path.join(dir, `out-${path.basename(fq)}`);
    const s = await exportModel(fq, quant, c.format, out);
    const plans = quant.map((q, i) => planLayer(layers[i]!, c.format, inv, layoutOf(q)));
    const costs = quant.map((q, i) => layerCost(layers[i]!, layoutOf(q), plans[i]!));
    quant.forEach((_, i) => assert.equal(s.layers[i]!.bytes, costs[i]!.total, `${layers[i]!.name}`));
    const original = inventoryOf(await loadModel(LM));
    const predicted = modelSize(original.fileBytes, layers.map((layer, i) => ({
      layer, bytes: costs[i]!.total, graph: graphBytes(layer, plans[i]!, layoutOf(quant[i]!), costs[i]!.nnz), quantized: true,
    })));
    const rel = Math.abs(s.bytes - predicted.bytes) / s.bytes;
    const label = `${c.format} ${JSON.stringify(c.spec)}`;
    console.log(`# ${label}: file ${s.bytes} B, predicted ${predicted.bytes} B (${(100 * rel).toFixed(2)} %), ${predicted.bitsPerWeight!.toFixed(3)} bits/weight`);
    assert.ok(rel < 0.01, `${label}: file ${s.bytes} vs predicted ${predicted.bytes}`);
    assert.equal(s.bitsPerWeight, predicted.bitsPerWeight, `${label}: the export's bits per weight is the cost model's`);
    assert.ok(predicted.bitsPerWeight! >= c.bpw[0] && predicted.bitsPerWeight! <= c.bpw[1], `${label}: ${predicted.bitsPerWeight} bits/weight`);
    if (c.format === 'onnx-qdq') assert.ok(s.layers.every((l) => l.storedBits === 4), 'int4 codes');
    if (c.spec.group === 'channel') {
      const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(out)));
      const attr = (x: { attribute?: { name?: string; i?: number }[] }, k: string): number => Number(x.attribute!.find((a) => a.name === k)!.i);
      const blocks = new Set(m.graph!.node!.filter((x) => x.opType === 'MatMulNBits').map((x) => `${attr(x, 'K')}/${attr(x, 'block_size')}`));
      assert.deepEqual([...blocks].sort(), ['192/64', '512/256'], 'per channel: 192 columns in blocks of 64, 512 in blocks of 256: no padding');
      assert.ok(s.layers.every((l) => l.parts.padding === 0));
    }
    const feeds = { input_ids: { data: ids, dims: [1, 64] } };
    const ref = await runOnce(fq, feeds);
    const got = await runOnce(out, feeds);
    assert.ok(maxAbsDiff(ref, got) < 2e-3 * Math.max(...ref.map(Math.abs)), `${label}: export vs fake quant ${maxAbsDiff(ref, got)}`);
  }
});
