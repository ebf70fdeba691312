// The shared incoherence rotations in the one cost model (core/cost/rotations.ts): the checker's
// size estimate, the runner's predicted size and the onnx-decode file count the same bytes, by part
// (codes, scales, zero points, rotation sign vectors and Hadamard factors), on the tiny LM with all
// 28 block projections rotated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { loadModel, tensorBytes } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { rotationTensors } from '../../../language-server/core/cost/rotations';
import { layerCost } from '../../../language-server/core/cost/cost';
import { planLayer } from '../../../language-server/core/cost/formats';
import { incoherenceForLayer } from '../../../extension/runner/engine/extreme/incoherence';
import type { CompressedLayer } from '../../../extension/runner/engine/extreme/compressed';
import { layoutOfCompressed } from '../../../extension/runner/pipeline/extreme';
import { exportDecode } from '../../../extension/runner/export/decode-export';
import { compressedSourceOf } from '../../../extension/runner/export/compressed-entry';
import { predictedSize } from '../../../extension/runner/export/onnx-export';
import { Rng } from '../../../language-server/core/util/rng';
import { memoryHost } from '../recipe/synthetic';

const ROOT = path.resolve(__dirname, '../../../..');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx');


test('tiny LM, GPTQ-style 2-bit + incoherence on 28 projections as onnx-decode: checker estimate = predicted size = file bytes, by part, rotations included', async () => {
  const model = await loadModel(LM);
  const inv = inventoryOf(model);
  const sel = inv.layers.filter((l) => l.op === 'MatMul' && l.name !== 'lm_head');
  assert.equal(sel.length, 28);
  // the compressed layers as the runner makes them (pipeline/extreme.ts): per-channel 2-bit codes with the run's rotations
  const rng = new Rng(3);
  const own = new Map<string, CompressedLayer>();
  for (const l of sel) {
    const { rows, cols } = l;
    own.set(l.name, {
      name: l.name, rows, cols, incoherence: incoherenceForLayer(rows, cols),
      body: {
        kind: 'scalar', bits: 2, groupSize: cols, symmetric: false, codes: Uint8Array.from({ length: rows * cols }, () => rng.int(4)),
        scales: Float32Array.from({ length: rows }, () => 0.01 + 0.01 * rng.next()), zeros: Float32Array.from({ length: rows }, () => rng.int(4)),
      },
    });
  }
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-rotcost-')), 'inc.onnx');
  const summary = await exportDecode(LM, [], compressedSourceOf([...own.values()]), out);
  // the file, by part
  const file = { codes: 0, scales: 0, zeros: 0, rotations: 0 };
  const written = await loadModel(out);
  for (const t of written.proto.graph?.initializer ?? []) {
    const n = t.name ?? '';
    const b = tensorBytes(written, t).byteLength;
    if (/^_hadamardT_|^_signs_/.test(n)) file.rotations += b;
    else if (/_codes$/.test(n)) file.codes += b;
    else if (/_scales$/.test(n)) file.scales += b;
    else if (/_zeros$/.test(n)) file.zeros += b;
  }
  // the cost model, by part
  const cost = { codes: 0, scales: 0, zeros: 0, rotations: rotationTensors(sel).bytes };
  for (const l of sel) {
    const layout = layoutOfCompressed(own.get(l.name)!);
    const c = layerCost(l, layout, planLayer(l, 'onnx-decode', inv, layout));
    cost.codes += c.codes; cost.scales += c.scales; cost.zeros += c.zeros;
  }
  // 192 and 512 rotate: signs 192 + 512; factors 12 (Paley, 192 = 12·16), 16, 32 (512 = 32·16)
  assert.equal(cost.rotations, 192 + 512 + 12 * 12 + 16 * 16 + 32 * 32);
  assert.deepEqual(file, cost, 'file bytes by part = cost model by part');
  const total = file.codes + file.scales + file.zeros + file.rotations;
  assert.equal(summary.quantizedBytes, total, 'the export\'s record counts the file');
  // the runner's predicted size (the `size` metric, the export's predictedBytes)
  const predicted = predictedSize(inv, [], 'onnx-decode', [...own].map(([name, c]) => ({ name, layout: layoutOfCompressed(c) })));
  assert.equal(predicted.rotationBytes, file.rotations);
  assert.equal(predicted.quantizedBytes, total);
  // the checker's estimate (inlay hints, QR206 budgets) of the recipe that makes these layers
  const params = sel.reduce((a, l) => a + l.params, 0);
  const a = await analyze('/work/r.qrecipe', `model "model.onnx"\ndata calib { text "c.txt" }\nquantize gptq on calib { targets "Linear"  ignore "lm_head"  bits 2  group channel  incoherence hadamard }\nexport onnx-decode "o.onnx"\n`,
    memoryHost({}, inv));
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
  const est = a.estimates[a.estimates.length - 1]!;
  assert.ok(Math.abs(est.bitsPerWeight! - (8 * total) / params) < 1e-12, `checker ${est.bitsPerWeight} vs file ${(8 * total) / params} bits a weight`);
  assert.ok(Math.abs(summary.bitsPerWeight - (8 * total) / params) < 1e-12);
});
