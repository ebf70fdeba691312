// GPTQ's sequential driver on the chain of parts (engine/calibrate/blockwise.ts) against the
// whole-model sequential path (calibrateSequential): the same Hessians for every block when the
// earlier blocks were compressed, each part run at most twice, scratch files removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks } from '../../../extension/runner/engine/blocks/plan';
import { calibrateBlockwise } from '../../../extension/runner/engine/calibrate/blockwise';
import { calibrateSequential, groupLayers } from '../../../extension/runner/engine/calibrate/calibrate';
import { getLayerWeight } from '../../../extension/runner/engine/model/weights';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { CancelledError } from '../../../language-server/core/util/cancel';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { Rng } from '../../../language-server/core/util/rng';
import { tempDir } from '../model/helpers';

const TINY = path.resolve(__dirname, '../../../..', 'test/fixtures/tiny-lm/model.onnx');

function batches(n: number, seed: number): { feeds: Record<string, ort.Tensor>; samples: number }[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({ feeds: { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 2 * 40 }, () => BigInt(rng.int(256))), [2, 40]) }, samples: 2 }));
}

/** A deterministic stand-in for a compressor: round every weight to a multiple of 1/16. */
function squash(w: Float32Array): Float32Array {
  return w.map((v) => Math.round(v * 16) / 16);
}

function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) { e = Math.max(e, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  return e / s;
}

test('block-wise driver = whole-model sequential path: the same Hessians for every block after compressing the earlier ones', async () => {
  const model = await loadModel(TINY);
  const layers = inventoryOf(model).layers.filter((l) => /^layers\.\d+\..*_proj$/.test(l.name));
  const data = batches(3, 5);
  const editor = new ModelEditor(model);

  const seqH = new Map<string, Float32Array>();
  const { editor: seqEditor } = await calibrateSequential(TINY, data, async (group, stats) => {
    const out = new Map<string, Float32Array>();
    for (const l of group) {
      seqH.set(l.name, stats.get(l.name)!.hessian.slice());
      out.set(l.name, squash(await getLayerWeight(editor, l)));
    }
    return out;
  }, { layers, groups: groupLayers(layers) });

  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok);
  const current = new Map<string, Float32Array>();
  const order: string[] = [];
  const scratch = path.join(tempDir(), '.scratch');
  const report = await calibrateBlockwise(model, data, async (group, stats) => {
    order.push(group[0]!.name.split('.').slice(0, 2).join('.'));
    for (const l of group) {
      const H = stats.get(l.name)!.hessian;
      assert.ok(relErr(H, seqH.get(l.name)!) < 1e-4, `${l.name}: Hessian differs by ${relErr(H, seqH.get(l.name)!)}`);
      current.set(l.name, squash(await getLayerWeight(editor, l)));
    }
  }, {
    plan: r.plan, layers, scratchDir: scratch,
    current: (ls: readonly LayerInfo[]) => new Map(ls.filter((l) => current.has(l.name)).map((l) => [l.name, async () => current.get(l.name)!])),
  });
  assert.deepEqual(order, ['layers.0', 'layers.1', 'layers.2', 'layers.3']);
  assert.equal(report.groups, 4);
  // prefix once, blocks 0-2 twice (capture, then compressed forward), block 3 once (nothing after it needs it)
  assert.equal(report.passes, 1 + 2 * 3 + 1);
  for (const l of layers) assert.deepEqual(current.get(l.name), await getLayerWeight(seqEditor, l));
  assert.ok(!existsSync(scratch) || readdirSync(scratch).length === 0, 'the spill file is removed');
});

test('block-wise driver: cancelling between parts throws CancelledError and removes the spill file', async () => {
  const model = await loadModel(TINY);
  const layers = inventoryOf(model).layers.filter((l) => /^layers\.\d+\..*_proj$/.test(l.name));
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok);
  const ac = new AbortController();
  const scratch = path.join(tempDir(), '.scratch');
  await assert.rejects(calibrateBlockwise(model, batches(2, 1), async () => { ac.abort(); }, {
    plan: r.plan, layers, scratchDir: scratch, activationBudget: 0, signal: ac.signal, current: async () => new Map(),
  }), CancelledError);
  assert.ok(!existsSync(path.join(scratch, 'activations.bin')));
});

test('Hessians asked to stay on the GPU (keepOnDevice) give the same H where there is none; column norms from diag(H)', async () => {
  const { InputStats } = await import('../../../extension/runner/engine/calibrate/hessian');
  const C = 48;
  const rng = new Rng(9);
  const X = Float32Array.from({ length: 70 * C }, () => rng.normal());
  const resident = new InputStats(C, true, true, true);
  const plain = new InputStats(C, true, false);
  for (const s of [resident, plain]) { await s.add(X.subarray(0, 30 * C), 30, 2); await s.add(X.subarray(30 * C), 40, 3); }
  const a = resident.takeH();
  const b = plain.takeH();
  assert.ok(relErr(a, b) < 1e-5, `${relErr(a, b)}`);
  const norms = plain.columnNorms();
  let sq = 0;
  for (let r = 0; r < 70; r++) sq += X[r * C + 5]! ** 2;
  assert.ok(Math.abs(norms[5]! - Math.sqrt(sq)) < 1e-4 * Math.sqrt(sq));
});
