// The memory preflight of block-wise calibration (blocks/memory.ts) per place a part runs:
// onnxruntime holds a part's weights three times in host memory, the native executor on the CPU
// twice, on CUDA twice in host memory and once in GPU memory; a plan that fits one and not the
// other is refused only where it does not fit, naming the part and the memory (host or GPU).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { planBlocks, type BlockPlan } from '../../../extension/runner/engine/blocks/plan';
import { partWeightBytes } from '../../../extension/runner/engine/blocks/submodel';
import { largestPart, memoryShortfall, partMemory, partPlacement, type PartPlacement } from '../../../extension/runner/engine/blocks/memory';
import * as native from '../../../native/index';

const TINY = path.resolve(__dirname, '../../../..', 'test/fixtures/tiny-lm/model.onnx');
const SHAPE = { batchTokens: 4 * 64, cacheBytes: 1 << 20, storeBytes: 1 << 20 };
const ORT: PartPlacement = { engine: 'onnxruntime' };
const CPU: PartPlacement = { engine: 'native', device: 'cpu' };
const CUDA: PartPlacement = { engine: 'native', device: 'cuda' };

async function plan(): Promise<BlockPlan> {
  const model = await loadModel(TINY);
  const r = planBlocks(model, inventoryOf(model).layers);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.plan;
}

test('weights: three times in host memory on onnxruntime, twice on the native executor, once on the GPU with CUDA', async () => {
  const block = (await plan()).parts.find((p) => p.kind === 'block')!;
  const w = partWeightBytes(block);
  assert.ok(w > 0);
  const ort = partMemory(block, SHAPE, ORT);
  const cpu = partMemory(block, SHAPE, CPU);
  const cuda = partMemory(block, SHAPE, CUDA);
  assert.equal(ort.host.weights, 3 * w);
  assert.equal(cpu.host.weights, 2 * w);
  assert.equal(cuda.host.weights, 2 * w);
  assert.equal(ort.host.total - cpu.host.total, w, 'the rest of the host figure is shared');
  assert.equal(ort.gpu, undefined);
  assert.equal(cpu.gpu, undefined);
  assert.ok(cuda.gpu);
  assert.equal(cuda.gpu.weights, w);
  assert.ok(cuda.gpu.total > w + cuda.gpu.activations + cuda.gpu.hessians, 'plus the CUDA context');
});

test('a host memory between the native and the onnxruntime figure: refused on onnxruntime only, naming the part', async () => {
  const p = await plan();
  const ort = largestPart(p, SHAPE, ORT).host;
  const cpu = largestPart(p, SHAPE, CPU).host;
  const host = (ort.host.total + cpu.host.total) / 2 / 0.9;
  const why = memoryShortfall(p, SHAPE, ORT, { host });
  assert.ok(why);
  assert.match(why, new RegExp(`^${ort.part.label.replace(/\./g, '\\.')} needs about [\\d.]+ \\w+ of memory .*on onnxruntime .*this machine has`));
  assert.equal(memoryShortfall(p, SHAPE, CPU, { host }), undefined);
  const small = memoryShortfall(p, SHAPE, CPU, { host: cpu.host.total / 2 });
  assert.match(small ?? '', /of memory for block-by-block calibration on the native executor \(CPU\)/);
});

test('on CUDA the GPU memory is checked too, with its own message naming the GPU', async () => {
  const p = await plan();
  const need = largestPart(p, SHAPE, CUDA);
  assert.ok(need.gpu?.gpu);
  const host = need.host.host.total * 2;
  const fits = { bytes: need.gpu.gpu.total * 2, name: 'the GPU (test)' };
  assert.equal(memoryShortfall(p, SHAPE, CUDA, { host, gpu: fits }), undefined);
  const tight = { bytes: need.gpu.gpu.total, name: 'the GPU (test)' };
  const why = memoryShortfall(p, SHAPE, CUDA, { host, gpu: tight });
  assert.match(why ?? '', new RegExp(`^${need.gpu.part.label.replace(/\./g, '\\.')} needs about [\\d.]+ \\w+ of GPU memory .*native executor \\(CUDA\\).*the GPU \\(test\\) has`));
  assert.match(memoryShortfall(p, SHAPE, CUDA, { host }) ?? '', /no usable CUDA device/);
});

test('placement follows the provider as the chain does', () => {
  assert.deepEqual(partPlacement('cpu'), ORT);
  const gpu = native.isAvailable() && native.gpuCount() > 0;
  assert.deepEqual(partPlacement('native'), native.isAvailable() ? (gpu ? CUDA : CPU) : ORT);
  assert.deepEqual(partPlacement('auto'), gpu ? CUDA : ORT);
});
