// A part of the chain as the graph executor's spec (engine/blocks/native-part.ts): every node of
// the part in a topological order with its attributes decoded, Constant nodes and initializers as
// tensors (external data read from the side file), the part's current weights in place of the
// file's in the stored layout, and a part the executor cannot take named with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModel, tensorFloat32 } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks, type BlockPlan } from '../../../extension/runner/engine/blocks/plan';
import { partGraphSpec, weightTensors } from '../../../extension/runner/engine/blocks/native-part';
import type { GraphSpec, GraphTensor } from '../../../native/graph-types';
import { generateLlamaShaped } from '../../fixtures/gen-llama-shaped';
import { tempDir } from '../model/helpers';

const ROOT = path.resolve(__dirname, '../../../..');
const TINY = path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx');

function plan(model: Awaited<ReturnType<typeof loadModel>>): BlockPlan {
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.plan;
}

/** Every node reads only inputs, initializers or tensors made by earlier nodes; the outputs are made. */
function assertTopological(spec: GraphSpec): void {
  const known = new Set([...spec.inputs, ...Object.keys(spec.initializers), '']);
  for (const n of spec.nodes) {
    for (const i of n.inputs) assert.ok(known.has(i), `node '${n.name}' reads '${i}' before it is made`);
    for (const o of n.outputs) known.add(o);
  }
  for (const o of spec.outputs) assert.ok(known.has(o), `output '${o}' is made`);
}

test('tiny LM: each block part becomes a spec with every computing node, constants as tensors and decoded attributes', async () => {
  const model = await loadModel(TINY);
  const p = plan(model);
  const block = p.parts.find((x) => x.kind === 'block')!;
  const types = new Map([...(block.carryIn ? [block.carryIn] : []), ...block.sides].map((n) => [n, 'float32']));
  const r = await partGraphSpec(model, block, { inputTypes: types, outputs: block.outputs });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const spec = r.spec;
  const computing = [...block.constNodes, ...block.nodes].filter((n) => n.opType !== 'Constant');
  assert.equal(spec.nodes.length, computing.length);
  assert.deepEqual(spec.outputs, block.outputs);
  assertTopological(spec);
  // Constant nodes' values are tensors, ints as int64
  const consts = block.constNodes.filter((n) => n.opType === 'Constant');
  assert.ok(consts.length > 0);
  for (const c of consts) assert.ok(spec.initializers[c.output![0]!], `constant '${c.output![0]}'`);
  const shapeConst = Object.values(spec.initializers).find((t) => t.data instanceof BigInt64Array);
  assert.ok(shapeConst, 'int64 constants stay int64');
  // attributes: Transpose's perm is a number list, Softmax's axis a number
  const tr = spec.nodes.find((n) => n.op === 'Transpose')!;
  assert.ok(Array.isArray(tr.attrs.perm) && (tr.attrs.perm as number[]).every((v) => typeof v === 'number'), JSON.stringify(tr.attrs));
  const sm = spec.nodes.find((n) => n.op === 'Softmax')!;
  assert.equal(typeof sm.attrs.axis, 'number');
  // the weights are the file's, in the stored layout
  const q = block.layers.find((l) => /q_proj/.test(l.name))!;
  const stored = block.initializers.find((t) => t.name === q.tensorName)!;
  assert.deepEqual(spec.initializers[q.tensorName]!.dims, stored.dims!.map(Number));
  assert.deepEqual(spec.initializers[q.tensorName]!.data, tensorFloat32(model, stored));
});

test('current weights replace the file\'s in the stored layout (MatMul weights are stored [in, out])', async () => {
  const model = await loadModel(TINY);
  const block = plan(model).parts.find((x) => x.kind === 'block')!;
  const q = block.layers.find((l) => /q_proj/.test(l.name))!;
  assert.ok(q.transposed);
  const w = Float32Array.from({ length: q.rows * q.cols }, (_, k) => k);
  const values = await weightTensors(block, new Map([[q.name, async () => w]]));
  const t = values[q.tensorName]!;
  assert.deepEqual(t.dims, [q.cols, q.rows]);
  // W[r][c] (rows = out) is stored at [c][r]
  const data = t.data as Float32Array;
  for (const [r, c] of [[0, 1], [3, 7], [q.rows - 1, q.cols - 1]] as const) assert.equal(data[c * q.rows + r], w[r * q.cols + c]);
  const types = new Map([...(block.carryIn ? [block.carryIn] : []), ...block.sides].map((n) => [n, 'float32']));
  const r = await partGraphSpec(model, block, { inputTypes: types, outputs: block.outputs, weights: new Map([[q.name, async () => w]]) });
  assert.ok(r.ok);
  assert.deepEqual(r.spec.initializers[q.tensorName]!.data, data);
});

test('a generated Llama-shaped model with external data: block specs read their weights from the side file', async () => {
  const dir = tempDir('qr-native-part-');
  const file = path.join(dir, 'model.onnx');
  await generateLlamaShaped(file, { blocks: 2, hidden: 64, mlp: 160, heads: 4, vocab: 32 });
  const model = await loadModel(file);
  const p = plan(model);
  assert.equal(p.blocks, 2);
  for (const part of p.parts) {
    const types = new Map([...(part.carryIn ? [part.carryIn] : []), ...part.sides].map((n) => [n, n === 'input_ids' ? 'int64' : 'float32']));
    const r = await partGraphSpec(model, part, { inputTypes: types, outputs: part.outputs });
    if (!r.ok) assert.fail(`${part.label}: ${r.reason}`);
    assertTopological(r.spec);
    for (const l of part.layers) {
      const t: GraphTensor | undefined = r.spec.initializers[l.tensorName];
      assert.ok(t, `${l.name}`);
      assert.equal(t.data.length, l.rows * l.cols);
    }
  }
});

test('a part reading a float16 input or holding a float16 weight is not native, with the reason', async () => {
  const model = await loadModel(TINY);
  const block = plan(model).parts.find((x) => x.kind === 'block')!;
  const half = new Map([...(block.carryIn ? [block.carryIn] : []), ...block.sides].map((n) => [n, 'float16']));
  const r = await partGraphSpec(model, block, { inputTypes: half, outputs: block.outputs });
  assert.ok(!r.ok);
  assert.match(r.reason, /^input '.*' is float16$/);
  // a weight stored in float16
  const w = block.initializers[0]!;
  const copy = { ...block, initializers: [{ ...w, dataType: 10, rawData: new Uint8Array(2 * w.dims!.reduce((a, b) => a * Number(b), 1)) }, ...block.initializers.slice(1)] };
  const types = new Map([...(block.carryIn ? [block.carryIn] : []), ...block.sides].map((n) => [n, 'float32']));
  const r2 = await partGraphSpec(model, copy, { inputTypes: types, outputs: block.outputs });
  assert.ok(!r2.ok);
  assert.match(r2.reason, new RegExp(`initializer '${w.name}' is float16 \\(the native executor computes float32, int64 and bool\\)`));
});
