// The exporter against onnxruntime on synthetic models: every packed form computes what the
// fake-quant model computes, and the packed bytes are what the format says.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { exportModel } from '../../../extension/runner/export/onnx-export';
import { exportAndVerify, ExportVerifyError } from '../../../extension/runner/pipeline/export-stage';
import { createSink } from '../../../extension/runner/events';
import { dequantize, readQuantStore, writeQuantStore, type QuantizedLayer } from '../../../extension/runner/export/quant-store';
import { decodeMessage, type ModelProto } from '../../../language-server/core/model/onnx-proto';
import { maxAbsDiff, quantizeRef, randn, rng, runOnce, writeConvModel, writeMlpModel, writeWideModel } from '../helpers';

/** Quantises the named layers with the reference RTN, writes the fake-quant model, returns the codes. */
async function fakeQuant(src: string, dst: string, spec: Record<string, { bits: number; group: number; symmetric?: boolean }>): Promise<QuantizedLayer[]> {
  const model = await loadModel(src);
  const inv = inventoryOf(model);
  const editor = new ModelEditor(model);
  const out: QuantizedLayer[] = [];
  for (const layer of inv.layers) {
    const s = spec[layer.name];
    if (!s) continue;
    const w = await getLayerWeight(editor, layer);
    const q = quantizeRef(layer.name, w, layer.rows, layer.cols, s.bits, Math.min(s.group, layer.cols), s.symmetric);
    setLayerWeight(editor, layer, dequantize(q));
    out.push(q);
  }
  await editor.save(dst);
  return out;
}

function opTypes(file: string): string[] {
  const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(file)));
  return (m.graph?.node ?? []).map((n) => n.opType ?? '');
}

test('MatMulNBits export of MatMul and Gemm (4-bit g16, 3-bit per row in a 4-bit container, 2-bit, 8-bit) matches fake quant', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'export-'));
  const src = path.join(dir, 'mlp.onnx');
  await writeMlpModel(src);
  const names = inventoryOf(await loadModel(src)).layers.map((l) => l.name);
  assert.equal(names.length, 2);
  const A = randn(4 * 64, rng(7));
  for (const [b1, g1, b2, g2] of [[4, 16, 3, 48], [2, 32, 8, 16], [8, 64, 4, 48]] as const) {
    const fq = path.join(dir, `fq${b1}.onnx`);
    const quant = await fakeQuant(src, fq, { [names[0]!]: { bits: b1, group: g1 }, [names[1]!]: { bits: b2, group: g2, symmetric: b2 === 8 } });
    const out = path.join(dir, `nbits${b1}.onnx`);
    const summary = await exportModel(fq, quant, 'onnx-matmulnbits', out);
    assert.deepEqual(summary.layers.map((l) => l.encoding), ['matmulnbits', 'matmulnbits'], JSON.stringify(summary.layers));
    assert.deepEqual(opTypes(out), ['MatMulNBits', 'MatMulNBits', 'Add'], 'Gemm keeps its bias through an Add');
    const ref = await runOnce(fq, { A: { data: A, dims: [4, 64] } });
    const got = await runOnce(out, { A: { data: A, dims: [4, 64] } });
    const scale = Math.max(...ref.map(Math.abs));
    assert.ok(maxAbsDiff(ref, got) < 1e-4 * scale, `bits ${b1}/${b2}: max diff ${maxAbsDiff(ref, got)} vs scale ${scale}`);
    const l0 = summary.layers[0]!;
    assert.ok(l0.bytes < l0.floatBytes * (l0.storedBits! / 32 + 0.15), `layer bytes ${l0.bytes} for ${l0.storedBits} bits`);
  }
});

test('MatMulNBits blocks stay within 16..256: per-row K=320 and groups of 80 (blocks of 16) repeat their scale exactly', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'export-'));
  const src = path.join(dir, 'wide.onnx');
  await writeWideModel(src);
  const [name] = inventoryOf(await loadModel(src)).layers.map((l) => l.name);
  const A = randn(2 * 320, rng(11));
  // per row: the block with the fewest bytes (64 divides 320: no padding), groups: a block dividing the group
  for (const [bits, group, block] of [[8, 320, 64], [4, 80, 16], [3, 320, 64]] as const) {
    const fq = path.join(dir, `wide-fq-${bits}-${group}.onnx`);
    const quant = await fakeQuant(src, fq, { [name!]: { bits, group } });
    const out = path.join(dir, `wide-${bits}-${group}.onnx`);
    const summary = await exportModel(fq, quant, 'onnx-matmulnbits', out);
    assert.equal(summary.layers[0]!.encoding, 'matmulnbits');
    const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(out)));
    const node = m.graph!.node!.find((n) => n.opType === 'MatMulNBits')!;
    assert.equal(node.attribute!.find((a) => a.name === 'block_size')!.i, block);
    const ref = await runOnce(fq, { A: { data: A, dims: [2, 320] } });
    const got = await runOnce(out, { A: { data: A, dims: [2, 320] } });
    assert.ok(maxAbsDiff(ref, got) < 1e-4 * Math.max(...ref.map(Math.abs)), `bits ${bits} group ${group}: ${maxAbsDiff(ref, got)}`);
  }
});

test('QDQ export: DequantizeLinear per channel, blocked and 4-bit (opset raised to 21), Cast/Sub/Mul below opset 13; all match fake quant', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'export-'));
  const X = randn(3 * 64, rng(9));
  const cases = [
    [17, 27, true, 8, 'dequantizelinear', 17], [17, 27, false, 8, 'dequantizelinear', 17], [11, 27, false, 8, 'cast-sub-mul', 11],
    [11, 9, true, 4, 'cast-sub-mul', 11], [11, 12, false, 3, 'cast-sub-mul', 11], [17, 9, false, 8, 'dequantizelinear', 21],
    [17, 27, true, 4, 'dequantizelinear', 21], [17, 12, false, 3, 'dequantizelinear', 21],
  ] as const;
  for (const [opset, group, symmetric, bits, expect, opsetOut] of cases) {
    const src = path.join(dir, `conv${opset}.onnx`);
    await writeConvModel(src, opset);
    const [layer] = inventoryOf(await loadModel(src)).layers;
    const fq = path.join(dir, `conv${opset}-fq.onnx`);
    const quant = await fakeQuant(src, fq, { [layer!.name]: { bits, group, symmetric } });
    const out = path.join(dir, `conv${opset}-${group}-${symmetric}-${bits}-qdq.onnx`);
    // MatMulNBits cannot take a Conv: it falls back to the dequantize forms.
    const summary = await exportModel(fq, quant, 'onnx-matmulnbits', out);
    assert.equal(summary.layers[0]!.encoding, expect);
    const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(out)));
    assert.equal(Number(m.opsetImport!.find((o) => !o.domain)!.version), opsetOut);
    assert.equal(summary.layers[0]!.storedBits, expect === 'dequantizelinear' && bits <= 4 ? 4 : 8);
    const ref = await runOnce(fq, { X: { data: X, dims: [1, 3, 8, 8] } });
    const got = await runOnce(out, { X: { data: X, dims: [1, 3, 8, 8] } });
    assert.ok(maxAbsDiff(ref, got) < 1e-4, `opset ${opset} group ${group}: ${maxAbsDiff(ref, got)}`);
  }
  // The MLP through QDQ (transposed MatMul weight, grouped) also matches.
  const src = path.join(dir, 'mlp.onnx');
  await writeMlpModel(src);
  const names = inventoryOf(await loadModel(src)).layers.map((l) => l.name);
  const fq = path.join(dir, 'mlp-fq.onnx');
  const quant = await fakeQuant(src, fq, { [names[0]!]: { bits: 4, group: 16 }, [names[1]!]: { bits: 8, group: 48, symmetric: true } });
  const out = path.join(dir, 'mlp-qdq.onnx');
  const summary = await exportModel(fq, quant, 'onnx-qdq', out);
  assert.deepEqual(summary.layers.map((l) => l.encoding), ['dequantizelinear', 'dequantizelinear']);
  assert.deepEqual(summary.layers.map((l) => l.storedBits), [4, 8]);
  const A = randn(4 * 64, rng(3));
  const ref = await runOnce(fq, { A: { data: A, dims: [4, 64] } });
  const got = await runOnce(out, { A: { data: A, dims: [4, 64] } });
  assert.ok(maxAbsDiff(ref, got) < 1e-4, `mlp qdq: ${maxAbsDiff(ref, got)}`);
});

test('unnamed nodes and Constant-node weights (as PP-OCR has) are rewritten in place', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'export-'));
  const src = path.join(dir, 'mlp.onnx');
  await writeMlpModel(src);
  // Move w1 into an unnamed Constant node and blank every node name.
  const editor = new ModelEditor(await loadModel(src));
  const w1 = editor.tensor('w1')!;
  const bytes = await editor.bytes(w1);
  editor.removeInitializer('w1');
  editor.graph.node.unshift({ opType: 'Constant', output: ['w1'], input: [], attribute: [{ name: 'value', type: 4, t: { name: 'w1', dims: [64, 48], dataType: 1, rawData: bytes } }] });
  for (const n of editor.graph.node) n.name = '';
  const unnamed = path.join(dir, 'unnamed.onnx');
  await editor.save(unnamed);
  const names = inventoryOf(await loadModel(unnamed)).layers.map((l) => l.name);
  const A = randn(4 * 64, rng(13));
  for (const format of ['onnx-qdq', 'onnx-matmulnbits'] as const) {
    const fq = path.join(dir, `unnamed-fq-${format}.onnx`);
    const quant = await fakeQuant(unnamed, fq, { [names[0]!]: { bits: 4, group: 16 }, [names[1]!]: { bits: 8, group: 48, symmetric: true } });
    const out = path.join(dir, `unnamed-${format}.onnx`);
    await exportModel(fq, quant, format, out);
    const ref = await runOnce(fq, { A: { data: A, dims: [4, 64] } });
    const got = await runOnce(out, { A: { data: A, dims: [4, 64] } });
    assert.ok(maxAbsDiff(ref, got) < 1e-4, `${format}: ${maxAbsDiff(ref, got)}`);
  }
});

test('quant.bin round-trips every field', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qstore-'));
  const w = randn(8 * 40, rng(5));
  const a = quantizeRef('a', w, 8, 40, 3, 8);
  const b = { ...quantizeRef('b', w, 8, 40, 4, 40, true), gIdx: Int32Array.from({ length: 40 }, (_, c) => c % 1), sparsity: 0.5 };
  await writeQuantStore(path.join(dir, 'quant.bin'), [a, b]);
  const [ra, rb] = await readQuantStore(path.join(dir, 'quant.bin'));
  assert.deepEqual(ra, a);
  assert.deepEqual(rb, b);
  assert.deepEqual(dequantize(rb!), dequantize(b));
});

test('issue #19 defect 7: an export is not copied over a file that appeared at its path (without replace), the run keeps its verified copy; with replace it is', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-clobber-'));
  const src = path.join(dir, 'mlp.onnx');
  await writeMlpModel(src, 7);
  const fq = path.join(dir, 'fq.onnx');
  const quant = await fakeQuant(src, fq, { w1: { bits: 4, group: 16 } });
  const out = path.join(dir, 'out', 'm.onnx');
  mkdirSync(path.dirname(out));
  writeFileSync(out, 'the user\'s file');
  const sink = createSink({ json: true, write: () => undefined });
  const common = { compressedModel: fq, quant, format: 'onnx-matmulnbits' as const, out, sink, warn: () => undefined };
  const err = await exportAndVerify({ ...common, run: { dir, index: 0 }, replace: false }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ExportVerifyError, String(err));
  assert.match(err.message, /exists and was not replaced.*--force/);
  assert.equal(err.record.verified, true, 'the export itself loaded');
  assert.equal(readFileSync(out, 'utf8'), 'the user\'s file', 'the file at the path is untouched');
  assert.ok(existsSync(path.join(dir, err.record.runCopy!)), 'the run keeps its copy');
  const ok = await exportAndVerify({ ...common, run: { dir, index: 1 }, replace: true });
  assert.equal(ok.verified, true);
  assert.deepEqual(readFileSync(out), readFileSync(path.join(dir, ok.runCopy!)), 'replaced by the run\'s file');
});
