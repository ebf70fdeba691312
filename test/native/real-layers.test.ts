// Real layers: the tiny-lm fixture's weights with Hessians captured by the calibration code on its
// held-out text. GPTQ must beat RTN and SparseGPT must beat Wanda and magnitude on every layer.
// Skipped while the fixture is absent.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { captureStats, type LayerStats } from '../../extension/runner/engine/calibrate/calibrate';
import { byteWindows } from '../../language-server/core/model/data/text';
import { lmFeeds } from '../../extension/runner/engine/evaluate/io';
import { loadModel } from '../../language-server/core/model/reader';
import { getLayerWeight } from '../../extension/runner/engine/model/weights';
import { ModelEditor } from '../../extension/runner/engine/model/writer';
import { gptq, magnitude, rtn, sparsegpt, wanda } from '../../native/index';

const dir = path.resolve('test/fixtures/tiny-lm');
const model = path.join(dir, 'model.onnx');
const text = path.join(dir, 'data', 'heldout.txt');
const skip = existsSync(model) && existsSync(text) ? false : 'tiny-lm fixture not present';

/** tr(ΔW·H·ΔWᵀ): the layer's output error on the calibration inputs, up to the factor 2/n. */
function hessLoss(W: Float32Array, Q: Float32Array, H: Float32Array, rows: number, cols: number): number {
  let s = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = W[r * cols + c] - Q[r * cols + c];
    for (let a = 0; a < cols; a++) {
      if (d[a] === 0) continue;
      let t = 0;
      for (let b = 0; b < cols; b++) t += H[a * cols + b] * d[b];
      s += d[a] * t;
    }
  }
  return s;
}

test('tiny-lm layers: GPTQ < RTN and SparseGPT < Wanda, magnitude on the real Hessians', { skip }, async () => {
  const windows = await byteWindows(text, 128, { maxWindows: 16 });
  const feeds = lmFeeds({ task: 'lm', input: 'input_ids', output: 'logits', inputType: 'int64', outputType: 'float32', shape: [undefined, undefined], extra: [], past: [], types: { input_ids: 'int64' }, outputs: ['logits'] }, windows);
  const { stats } = await captureStats(model, [{ feeds, samples: windows.length }]);
  const editor = new ModelEditor(await loadModel(model));
  const lines: string[] = [];
  let tested = 0;
  for (const s of [...stats.values()] as LayerStats[]) {
    const { rows, cols } = s.layer;
    if (rows * cols > 192 * 512 * 2) continue;
    const W = await getLayerWeight(editor, s.layer);
    const shape = { rows, cols };
    const g = cols % 64 === 0 ? 64 : 0;
    const q = await gptq(W, s.hessian, shape, { bits: 3, groupSize: g });
    const r = await rtn(W, shape, { bits: 3, groupSize: g });
    const lq = hessLoss(W, q.weights, s.hessian, rows, cols);
    const lr = hessLoss(W, r.weights, s.hessian, rows, cols);
    assert.ok(lq <= lr, `${s.layer.name}: GPTQ ${lq} > RTN ${lr}`);
    const sp = await sparsegpt(W, s.hessian, shape, { sparsity: 0.5 });
    const wa = await wanda(W, s.colNorms, shape, { sparsity: 0.5 });
    const mg = await magnitude(W, shape, { sparsity: 0.5 });
    const [ls, lw, lm] = [sp, wa, mg].map((x) => hessLoss(W, x.weights, s.hessian, rows, cols));
    assert.ok(ls <= lw && ls <= lm, `${s.layer.name}: SparseGPT ${ls}, Wanda ${lw}, magnitude ${lm}`);
    lines.push(`${s.layer.name} ${rows}×${cols}: gptq/rtn ${(lq / lr).toFixed(3)}, sparsegpt/wanda ${(ls / lw).toFixed(3)}`);
    tested++;
  }
  assert.ok(tested >= 4, `only ${tested} layers tested`);
  console.log(lines.join('\n'));
});
