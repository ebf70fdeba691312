// Perplexity and KL through the chain of blocks (engine/blocks/evaluate-chain.ts) equal the
// whole-model evaluation of the same windows: original and compressed in one pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks } from '../../../extension/runner/engine/blocks/plan';
import { evaluateOnChain } from '../../../extension/runner/engine/blocks/evaluate-chain';
import { evaluateModel } from '../../../extension/runner/engine/evaluate/index';
import { describeIoFromModel } from '../../../extension/runner/engine/evaluate/io';
import { textWindows } from '../../../extension/runner/engine/evaluate/datasets';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { tempDir } from '../model/helpers';

const LM = path.resolve(__dirname, '../../../..', 'test/fixtures/tiny-lm');

test('chain evaluation = whole-model perplexity of both models and KL between them', async () => {
  const model = await loadModel(path.join(LM, 'model.onnx'));
  const inv = inventoryOf(model);
  // "compressed": two layers changed
  const changed = new Map<string, Float32Array>();
  const editor = new ModelEditor(model);
  for (const name of ['layers.1.self_attn.v_proj', 'layers.3.mlp.down_proj']) {
    const l = inv.layers.find((x) => x.name === name)!;
    const w = (await getLayerWeight(editor, l)).map((v, i) => (i % 3 ? v : 0));
    changed.set(name, w);
    setLayerWeight(editor, l, w);
  }
  const dir = tempDir();
  const file = path.join(dir, 'compressed.onnx');
  await editor.save(file);
  const data = path.join(LM, 'data/heldout.txt');
  const spec = { data, seqlen: 128, limit: 6 };
  const pOrig = await evaluateModel({ model: path.join(LM, 'model.onnx'), metric: 'perplexity', ...spec });
  const pComp = await evaluateModel({ model: file, metric: 'perplexity', ...spec });
  const kl = await evaluateModel({ model: file, metric: 'kl', reference: path.join(LM, 'model.onnx'), ...spec });

  const fresh = await loadModel(path.join(LM, 'model.onnx'));
  const r = planBlocks(fresh, inventoryOf(fresh).layers);
  assert.ok(r.ok);
  const { windows } = await textWindows(data, 128, { maxWindows: 6 });
  const scratch = path.join(dir, '.scratch');
  const c = await evaluateOnChain({
    model: fresh, plan: r.plan, io: describeIoFromModel(fresh), windows, batch: 4, reference: true,
    compressed: (layers) => new Map(layers.filter((l) => changed.has(l.name)).map((l) => [l.name, async () => changed.get(l.name)!])),
    scratchDir: scratch, activationBudget: 0,
  });
  const close = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol * Math.abs(b);
  assert.ok(close(c.original!.value, pOrig.value, 1e-6), `original ${c.original!.value} vs ${pOrig.value}`);
  assert.ok(close(c.compressed.value, pComp.value, 1e-6), `compressed ${c.compressed.value} vs ${pComp.value}`);
  assert.ok(pComp.value > pOrig.value * 1.001, 'the change is visible');
  assert.ok(close(c.kl!.value, kl.value, 1e-4), `kl ${c.kl!.value} vs ${kl.value}`);
  assert.equal(c.kl!.details.top1Agreement, kl.details.top1Agreement);
  assert.ok(!existsSync(scratch) || readdirSync(scratch, { recursive: true }).every((f) => !String(f).endsWith('.bin')), 'spill files removed');
});
