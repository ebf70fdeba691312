// The block-wise driver and the chain on the addon's graph executor (provider 'native', on the CPU
// here) against onnxruntime's CPU provider: the same Hessians for every block (taps against
// fetched tensors, with the earlier blocks compressed through setInitializers), each native part
// created once for its capture and forward passes, and a part the executor cannot run told once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks } from '../../../extension/runner/engine/blocks/plan';
import { calibrateBlockwise, type BlockwiseReport } from '../../../extension/runner/engine/calibrate/blockwise';
import { getLayerWeight } from '../../../extension/runner/engine/model/weights';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import type { ProviderChoice } from '../../../extension/runner/engine/evaluate/session';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { Rng } from '../../../language-server/core/util/rng';
import { tempDir } from '../model/helpers';

const TINY = path.resolve(__dirname, '../../../..', 'test/fixtures/tiny-lm/model.onnx');

function batches(n: number, seed: number): { feeds: Record<string, ort.Tensor>; samples: number }[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({ feeds: { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 2 * 40 }, () => BigInt(rng.int(256))), [2, 40]) }, samples: 2 }));
}

function squash(w: Float32Array): Float32Array {
  return w.map((v) => Math.round(v * 16) / 16);
}

/** max |a − b| / max |b|, and the largest element-wise relative difference over entries ≥ 1e-3 of the largest. */
function diffs(a: Float32Array, b: Float32Array): { max: number; elem: number } {
  let e = 0, s = 0;
  for (let i = 0; i < a.length; i++) { e = Math.max(e, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  let elem = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(b[i]!) >= 1e-3 * s) elem = Math.max(elem, Math.abs(a[i]! - b[i]!) / Math.abs(b[i]!));
  return { max: e / s, elem };
}

async function calibrate(provider: ProviderChoice, said: string[] = []): Promise<{ H: Map<string, Float32Array>; report: BlockwiseReport }> {
  const model = await loadModel(TINY);
  const layers = inventoryOf(model).layers.filter((l) => /^layers\.\d+\..*_proj$/.test(l.name));
  const editor = new ModelEditor(model);
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok);
  const current = new Map<string, Float32Array>();
  const H = new Map<string, Float32Array>();
  const report = await calibrateBlockwise(model, batches(3, 5), async (group, stats) => {
    for (const l of group) {
      H.set(l.name, stats.get(l.name)!.hessian.slice());
      current.set(l.name, squash(await getLayerWeight(editor, l)));
    }
  }, {
    plan: r.plan, layers, scratchDir: path.join(tempDir(), '.scratch'), provider, onFallback: (m) => said.push(m),
    current: (ls: readonly LayerInfo[]) => new Map(ls.filter((l) => current.has(l.name)).map((l) => [l.name, async () => current.get(l.name)!])),
  });
  return { H, report };
}

test('tiny LM, block-wise on the native executor (CPU) = onnxruntime CPU: Hessians of every block within rel 1e-5', async () => {
  const cpu = await calibrate('cpu');
  const said: string[] = [];
  const nat = await calibrate('native', said);
  console.log(`# native: ${nat.report.nativeParts} parts natively, provider ${nat.report.provider}, Hessians by ${nat.report.hessianBackend}; said: ${said.join(' | ')}`);
  assert.equal(cpu.report.nativeParts, 0);
  assert.equal(cpu.report.provider, 'cpu');
  assert.ok(nat.report.nativeParts >= 4, `every block natively (${nat.report.nativeParts})`);
  assert.match(nat.report.hessianBackend, /taps/);
  assert.equal(nat.report.passes, cpu.report.passes, 'the same passes: one executor per part serves capture and forward');
  let worst = { name: '', max: 0, elem: 0 };
  for (const [name, h] of cpu.H) {
    const d = diffs(nat.H.get(name)!, h);
    if (d.max > worst.max) worst = { name, ...d };
  }
  console.log(`# worst Hessian difference: ${worst.name}: ${worst.max.toExponential(2)} of the largest entry, ${worst.elem.toExponential(2)} element-wise`);
  assert.ok(worst.max <= 1e-5, `${worst.name}: Hessian differs by ${worst.max} of its largest entry`);
});
