// Dev harness (not a benchmark of record): quantises the tiny LM's 28 projections layer by layer with
// sequential calibration and one method, writes the fake-quant model and prints its held-out perplexity.
// node out/bench/extreme-dev.js METHOD [key=value ...]   METHOD: rtn gptq gptq-inc vq vq-inc
import path from 'node:path';
import { loadModel } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import { ModelEditor } from '../../extension/runner/engine/model/writer';
import { getLayerWeight } from '../../extension/runner/engine/model/weights';
import { calibrateSequential, groupLayers } from '../../extension/runner/engine/calibrate/calibrate';
import { openSession } from '../../extension/runner/engine/evaluate/session';
import { describeIo } from '../../extension/runner/engine/evaluate/io';
import { feedBatches } from '../../extension/runner/engine/evaluate/datasets';
import { evaluateModel } from '../../extension/runner/engine/evaluate/index';
import * as native from '../../native/index';
import { vqQuantize, layerLoss } from '../../extension/runner/engine/extreme/vq';
import { incoherenceForLayer, rotateLayer, unrotateWeight } from '../../extension/runner/engine/extreme/incoherence';
import { decodeLayer, type CompressedLayer } from '../../extension/runner/engine/extreme/compressed';
import { finetune } from '../../extension/runner/engine/extreme/finetune';
import type { FeedBatch } from '../../extension/runner/engine/evaluate/agreement';
import type { LayerInfo } from '../../language-server/core/model/types';

const root = path.resolve(__dirname, '../..');
const fx = path.join(root, 'test/fixtures/tiny-lm');

async function main(): Promise<void> {
  const method = process.argv[2] ?? 'gptq';
  const kv = Object.fromEntries(process.argv.slice(3).map((a) => a.split('=')));
  const bits = +(kv.bits ?? 2);
  const group = +(kv.group ?? 0);
  const modelPath = path.join(fx, 'model.onnx');
  const model = await loadModel(modelPath);
  const orig = new ModelEditor(model);
  const layers = inventoryOf(model).layers.filter((l) => l.op === 'MatMul' && l.name !== 'lm_head');
  const probe = await openSession(modelPath, { provider: 'cpu' });
  const io = describeIo(probe.session, modelPath);
  await probe.session.release();
  const { batches } = await feedBatches(path.join(fx, 'data/calib.txt'), io, modelPath, { seqlen: 256, count: +(kv.samples ?? 32), seed: 0, limit: +(kv.samples ?? 32) });
  const t0 = Date.now();
  let rel = 0;
  // cache of the quantised layers (dev only): out/bench/extreme-dev-<method>-<settings>.v8
  const { serialize, deserialize } = await import('node:v8');
  const fs = await import('node:fs');
  const cacheKey = Object.entries(kv).filter(([k]) => !['ft', 'ftsamples', 'ftbatch', 'lr', 'codelr', 'tau', 'norms'].includes(k)).map(([k, v]) => `${k}${v}`).join('-');
  const cacheFile = path.join(root, 'out/bench', `extreme-dev-${method}-${cacheKey}.v8`);
  const cached = fs.existsSync(cacheFile) ? deserialize(fs.readFileSync(cacheFile) as unknown as Uint8Array) as { name: string; c: CompressedLayer }[] : undefined;
  const compressed: { info: LayerInfo; compressed: CompressedLayer }[] = [];
  const { editor } = await calibrateSequential(modelPath, batches, async (group_, stats) => {
    const out = new Map<string, Float32Array>();
    for (const l of group_) {
      const W = await getLayerWeight(orig, l);
      const hit = cached?.find((x) => x.name === l.name);
      if (hit) {
        const inc0 = method.endsWith('-inc') ? incoherenceForLayer(l.rows, l.cols) : undefined;
        const c0: CompressedLayer = { ...hit.c, ...(inc0 ? { incoherence: inc0 } : {}) };
        compressed.push({ info: l, compressed: c0 });
        out.set(l.name, decodeLayer(c0));
        continue;
      }
      const H = stats.get(l.name)!.hessian;
      const { rows, cols } = l;
      const inc = method.endsWith('-inc') ? incoherenceForLayer(rows, cols) : undefined;
      const rl = inc ? rotateLayer(W, H, rows, cols, inc) : { W, H };
      const t = Date.now();
      let c: CompressedLayer;
      if (method.startsWith('gptq') || method === 'rtn') {
        const q = method === 'rtn' ? await native.rtn(rl.W, { rows, cols }, { bits, groupSize: group }) : await native.gptq(rl.W, rl.H!, { rows, cols }, { bits, groupSize: group });
        c = { name: l.name, rows, cols, body: { kind: 'scalar', bits, groupSize: group || cols, symmetric: false, codes: q.codes, scales: q.scales, zeros: q.zeros }, ...(inc ? { incoherence: inc } : {}) };
      } else {
        const v = await vqQuantize(rl.W, rl.H!, rows, cols, { dim: +(kv.dim ?? 4), codebooks: +(kv.books ?? 1), bits: +(kv.cbits ?? 8), iterations: +(kv.iters ?? 8), scales: kv.scales !== '0' });
        c = { name: l.name, rows, cols, body: { kind: 'vector', ...v.layer }, ...(inc ? { incoherence: inc } : {}) };
      }
      const Q = decodeLayer(c);
      compressed.push({ info: l, compressed: c });
      void unrotateWeight;
      const r = layerLoss(W, Q, H, rows, cols) / layerLoss(W, new Float32Array(W.length), H, rows, cols);
      rel += r;
      console.log(`${l.name} ${rows}x${cols} rel ${r.toExponential(3)} ${Date.now() - t} ms`);
      out.set(l.name, Q);
    }
    return out;
  }, { layers, groups: groupLayers(layers) });
  if (!cached) fs.writeFileSync(cacheFile, new Uint8Array(serialize(compressed.map(({ info, compressed: c }) => ({ name: info.name, c: { ...c, incoherence: undefined } })))));
  console.log(`quantised in ${((Date.now() - t0) / 1000).toFixed(1)} s, mean rel ${(rel / layers.length).toExponential(3)}`);
  const file = path.join(root, 'out/bench', `extreme-dev-${method}.onnx`);
  await editor.save(file);
  const r = await evaluateModel({ model: file, metric: 'perplexity', data: path.join(fx, 'data/heldout.txt'), seqlen: 256 });
  console.log(method, JSON.stringify(kv), 'perplexity', r.value);
  const ftSteps = +(kv.ft ?? 0);
  if (!ftSteps) return;
  const all: FeedBatch[] = [];
  const ft = await feedBatches(path.join(fx, 'data/calib.txt'), io, modelPath, { seqlen: 256, count: +(kv.ftsamples ?? 128), seed: 1, limit: +(kv.ftsamples ?? 128), batch: +(kv.ftbatch ?? 4) });
  for await (const b of ft.batches()) all.push(b);
  const student = await loadModel(file);
  const res = await finetune(student, modelPath, compressed, all, {
    steps: ftSteps, lr: +(kv.lr ?? 1e-3), codeLr: +(kv.codelr ?? 1e-2), codeFraction: +(kv.tau ?? 0.01), norms: kv.norms !== '0',
    onStep: (s) => { if (s.step % 10 === 0 || s.step === 1) console.log(`step ${s.step} KL ${s.loss.toFixed(4)} changed ${s.changed} ${s.seconds.toFixed(2)} s`); },
  });
  console.log(`fine-tuned: KL ${res.before.toFixed(4)} -> ${res.after.toFixed(4)}, codes changed ${res.codesChanged}/${res.codeUnits}, ${res.seconds.toFixed(0)} s`);
  const ed = new ModelEditor(student);
  for (const { info, compressed: c } of compressed) (await import('../../extension/runner/engine/model/weights')).setLayerWeight(ed, info, decodeLayer(c));
  for (const [n, v] of res.floats) ed.setTensorFloat32(n, v);
  const file2 = file.replace('.onnx', '-ft.onnx');
  await ed.save(file2);
  const r2 = await evaluateModel({ model: file2, metric: 'perplexity', data: path.join(fx, 'data/heldout.txt'), seqlen: 256 });
  console.log(method, JSON.stringify(kv), 'fine-tuned perplexity', r2.value);
}
main().catch((e) => { console.error(e); process.exit(1); });
