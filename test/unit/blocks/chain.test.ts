// The chain of parts (engine/blocks): where the graph is cut, and that running prefix → blocks →
// suffix part by part computes what the whole model computes, with current weights replaced,
// with activations spilled to disk, and without writing anything beside the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdirSync, existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks } from '../../../extension/runner/engine/blocks/plan';
import { ChainRunner, type ChainBatch } from '../../../extension/runner/engine/blocks/chain';
import { ActivationCache } from '../../../extension/runner/engine/blocks/activations';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { generateLlamaShaped } from '../../fixtures/gen-llama-shaped';
import { Rng } from '../../../language-server/core/util/rng';
import { buildMlp, tempDir } from '../model/helpers';

const ROOT = path.resolve(__dirname, '../../../..');
const TINY = path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx');

function tokenBatches(n: number, b: number, t: number, seed: number): ChainBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(256)));
    return { feeds: { input_ids: new ort.Tensor('int64', ids, [b, t]) }, samples: b };
  });
}

async function wholeLogits(file: string, batches: ChainBatch[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(file);
  try {
    const out: Float32Array[] = [];
    for (const b of batches) out.push((await s.run(b.feeds))[s.outputNames[0]!]!.data as Float32Array);
    return out;
  } finally {
    await s.release();
  }
}

async function chainLogits(
  file: string,
  batches: ChainBatch[],
  o: { budget?: number; scratch: string; weights?: Map<string, Float32Array> },
): Promise<{ logits: Float32Array[]; cache: ActivationCache }> {
  const model = await loadModel(file);
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const cache = new ActivationCache(o.scratch, o.budget ?? 1 << 30);
  const chain = new ChainRunner(model, r.plan, { cache, scratchDir: o.scratch, provider: 'cpu' });
  await chain.start(batches);
  const logits: Float32Array[] = [];
  const last = r.plan.parts.length - 1;
  for (let j = 0; j <= last; j++) {
    const part = r.plan.parts[j]!;
    const weights = new Map([...(o.weights ?? [])].filter(([k]) => part.layers.some((l) => l.name === k)).map(([k, w]) => [k, async () => w]));
    await chain.runPart(j, {
      weights, advance: j < last,
      onBatch: async (i, out) => { if (j === last) logits[i] = out[part.graphOutputs[0]!]!.data as Float32Array; },
    });
  }
  return { logits, cache };
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, k) => { for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - b[k]![i]!)); });
  return m;
}

test('tiny LM: cut at every block (boundary = residual stream), rotary tables and mask as side tensors of the prefix', async () => {
  const model = await loadModel(TINY);
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const { parts } = r.plan;
  assert.deepEqual(parts.map((p) => p.kind), ['prefix', 'block', 'block', 'block', 'block', 'suffix']);
  assert.deepEqual(parts.slice(1, 5).map((p) => p.label), ['layers.0', 'layers.1', 'layers.2', 'layers.3']);
  assert.equal(r.plan.named, true);
  assert.equal(r.plan.transformer, true);
  assert.deepEqual(parts[0]!.layers.map((l) => l.name), ['embed_tokens']);
  assert.deepEqual(parts[5]!.layers.map((l) => l.name), ['lm_head']);
  for (const p of parts.slice(1, 5)) {
    assert.equal(p.layers.length, 7);
    assert.ok(p.layers.every((l) => l.name.startsWith(p.label + '.')));
    // a block reads its boundary and tensors of the prefix only
    assert.ok(p.sides.every((s) => parts[0]!.outputs.includes(s)), p.sides.join());
    assert.equal(p.carryIn, parts[p.index - 1]!.carryOut);
    // its own weights only
    assert.ok(p.initializers.every((t) => !t.name!.startsWith('layers.') || t.name!.startsWith(p.label + '.')));
  }
  assert.ok(parts[1]!.sides.length >= 2, 'rotary cos/sin and mask reach the block from the prefix');
});

test('tiny LM: the chain of parts gives the whole model\'s logits; a replaced weight acts as in the whole model', async () => {
  const batches = tokenBatches(3, 2, 48, 1);
  const whole = await wholeLogits(TINY, batches);
  const scratch = tempDir();
  const { logits, cache } = await chainLogits(TINY, batches, { scratch });
  assert.ok(maxDiff(logits, whole) < 1e-4, `max diff ${maxDiff(logits, whole)}`);
  await cache.dispose();

  // Replace layers.2.mlp.up_proj by a scaled copy: the chain (weights given per part) equals a saved whole model.
  const model = await loadModel(TINY);
  const editor = new ModelEditor(model);
  const up = inventoryOf(model).layers.find((l) => l.name === 'layers.2.mlp.up_proj')!;
  const w = (await getLayerWeight(editor, up)).map((v) => v * 0.5);
  setLayerWeight(editor, up, w);
  const changed = path.join(scratch, 'changed.onnx');
  await editor.save(changed);
  const ref = await wholeLogits(changed, batches);
  const c = await chainLogits(TINY, batches, { scratch, weights: new Map([[up.name, w]]) });
  assert.ok(maxDiff(c.logits, ref) < 1e-4);
  assert.ok(maxDiff(c.logits, whole) > 1e-3, 'the replaced weight changed the output');
  await c.cache.dispose();
});

test('Llama-shaped model with external data: chain = whole model with every activation spilled; nothing written beside the model', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'model.onnx');
  await generateLlamaShaped(file, { blocks: 3, hidden: 64, mlp: 160, heads: 4, vocab: 256 });
  const before = readdirSync(dir).sort();
  const batches = tokenBatches(4, 1, 32, 7);
  const whole = await wholeLogits(file, batches);
  const scratch = path.join(tempDir(), '.scratch');
  const { logits, cache } = await chainLogits(file, batches, { scratch, budget: 0 });
  assert.ok(maxDiff(logits, whole) < 1e-4, `max diff ${maxDiff(logits, whole)}`);
  assert.ok(cache.stats.spilledBytes > 0 && cache.stats.peakMemoryBytes === 0, JSON.stringify(cache.stats));
  // one boundary per batch plus the inputs and one mask (equal for every batch): slots are reused
  assert.ok(cache.stats.fileBytes <= 4 * (2 * 32 * 64 * 4) + 4 * 32 * 8 + 32 * 32 * 4 + 1024, JSON.stringify(cache.stats));
  assert.ok(existsSync(cache.spillPath));
  await cache.dispose();
  assert.ok(!existsSync(cache.spillPath));
  assert.deepEqual(readdirSync(dir).sort(), before);
});

test('a graph without blocks is refused with the reason; a skip connection over a block merges the blocks it jumps', async () => {
  const dir = tempDir();
  const mlp = path.join(dir, 'mlp.onnx');
  await buildMlp(mlp).save(mlp);
  const m = await loadModel(mlp);
  const r = planBlocks(m, inventoryOf(m).layers);
  assert.ok(!r.ok && /no tensor separates|no transformer blocks/.test(r.reason), JSON.stringify(r));

  // Llama-shaped, then block 2 also reads block 0's input (h.0): no tensor separates block 0 from block 1.
  const file = path.join(dir, 'skip.onnx');
  await generateLlamaShaped(file, { blocks: 3, hidden: 32, mlp: 64, heads: 2, vocab: 64 });
  const model = await loadModel(file);
  const e = new ModelEditor(model);
  const add = e.graph.node.find((n) => n.opType === 'Add' && n.output?.[0] === 'h.2')!;
  e.addNode({ opType: 'Add', inputs: [add.output![0]!, 'h.0'], outputs: ['h.2.skip'] }, { before: e.graph.node[e.graph.node.indexOf(add) + 1]!.name });
  for (const n of e.graph.node) if (n !== e.graph.node.find((x) => x.output?.[0] === 'h.2.skip')) n.input = n.input?.map((i) => (i === 'h.2' ? 'h.2.skip' : i));
  const r2 = planBlocks(model, inventoryOf(model).layers);
  assert.equal(r2.ok, true, 'blocks 0 and 1 merge into one part; the chain still cuts elsewhere');
  if (r2.ok) assert.ok(r2.plan.parts.some((p) => p.layers.some((l) => l.name.startsWith('layers.0.')) && p.layers.some((l) => l.name.startsWith('layers.1.'))), 'blocks 0 and 1 share a part');
});

test('a graph without block names is cut by its repeating structure', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'anon.onnx');
  await generateLlamaShaped(file, { blocks: 3, hidden: 32, mlp: 64, heads: 2, vocab: 64 });
  const model = await loadModel(file);
  // Rename every weight and node as a dynamo export does (`val_N`, `node_N`).
  const g = model.proto.graph!;
  const rename = new Map<string, string>();
  (g.initializer ?? []).forEach((t, k) => { if (/layers|embed|lm_head/.test(t.name!)) rename.set(t.name!, `val_${k}`); });
  for (const t of g.initializer ?? []) t.name = rename.get(t.name!) ?? t.name;
  (g.node ?? []).forEach((n, k) => { n.name = `node_${k}`; n.input = n.input?.map((i) => rename.get(i) ?? i); });
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.plan.named, false);
  assert.equal(r.plan.blocks, 3);
  assert.equal(r.plan.transformer, true);
  assert.deepEqual(r.plan.parts.map((p) => p.layers.length), [1, 7, 7, 7, 1]);
});

test('asked for WebGPU where it cannot run, the chain falls back to the CPU and says why once', async () => {
  const model = await loadModel(TINY);
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok);
  const scratch = tempDir();
  const cache = new ActivationCache(scratch, 1 << 30);
  const said: string[] = [];
  const chain = new ChainRunner(model, r.plan, { cache, scratchDir: scratch, provider: 'webgpu', onFallback: (m) => said.push(m) });
  await chain.start(tokenBatches(1, 1, 16, 3));
  const used = await chain.runPart(0, { advance: true });
  await chain.runPart(1, { advance: true });
  await cache.dispose();
  if (used === 'webgpu') return; // a machine with a GPU adapter
  assert.equal(used, 'cpu');
  assert.equal(said.length, 1, said.join(' | '));
  assert.match(said[0]!, /^onnxruntime runs the blocks on cpu: webgpu: /);
});
