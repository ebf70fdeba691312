// Dumps what test/bench/extreme_reference.py checks against PyTorch/numpy (issue #23's "each method
// checked against a small reference"): three real tiny-LM layers with their Hessians and QRecipe's
// results for GPTQ + incoherence and VQ, and one distillation gradient of a compressed tiny LM.
//   npm run build:ts && npx esbuild test/bench/extreme-reference-dump.ts --bundle --platform=node \
//     --packages=external --outfile=out/bench/extreme-reference-dump.js && node out/bench/extreme-reference-dump.js
//   python3 test/bench/extreme_reference.py out/bench/extreme-reference.bin
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { loadModel } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import { ModelEditor } from '../../extension/runner/engine/model/writer';
import { getLayerWeight } from '../../extension/runner/engine/model/weights';
import { captureStats } from '../../extension/runner/engine/calibrate/calibrate';
import { openSession } from '../../extension/runner/engine/evaluate/session';
import { describeIo } from '../../extension/runner/engine/evaluate/io';
import { feedBatches } from '../../extension/runner/engine/evaluate/datasets';
import type { FeedBatch } from '../../extension/runner/engine/evaluate/agreement';
import * as native from '../../native/index';
import { layerLoss, vqQuantize } from '../../extension/runner/engine/extreme/vq';
import { incoherenceForLayer, rotateLayer, unrotateWeight } from '../../extension/runner/engine/extreme/incoherence';
import type { CompressedLayer } from '../../extension/runner/engine/extreme/compressed';
import { finetune } from '../../extension/runner/engine/extreme/finetune';

const root = path.resolve(__dirname, '../..');
const fx = path.join(root, 'test/fixtures/tiny-lm');

/** A flat file: u32 header length, JSON header {meta, arrays: {name: {dtype, offset, length, dims}}}, then the arrays. */
class Dump {
  private readonly parts: Uint8Array[] = [];
  private offset = 0;
  readonly arrays: Record<string, { dtype: string; offset: number; length: number; dims: number[] }> = {};
  readonly meta: Record<string, unknown> = {};
  put(name: string, a: Float32Array | Int8Array | Uint8Array | Int32Array, dims: number[]): void {
    const dtype = a instanceof Float32Array ? 'float32' : a instanceof Int8Array ? 'int8' : a instanceof Uint8Array ? 'uint8' : 'int32';
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
    this.arrays[name] = { dtype, offset: this.offset, length: a.length, dims };
    this.parts.push(bytes);
    this.offset += bytes.length;
    const pad = (8 - (this.offset % 8)) % 8;
    if (pad) { this.parts.push(new Uint8Array(pad)); this.offset += pad; }
  }
  async write(file: string): Promise<void> {
    const head = new TextEncoder().encode(JSON.stringify({ meta: this.meta, arrays: this.arrays }));
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, head.length, true);
    const all = [len, head, ...this.parts];
    const out = new Uint8Array(all.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const b of all) { out.set(b, at); at += b.length; }
    await fs.writeFile(file, out);
  }
}

async function main(): Promise<void> {
  const modelPath = path.join(fx, 'model.onnx');
  const model = await loadModel(modelPath);
  const orig = new ModelEditor(model);
  const inv = inventoryOf(model);
  const probe = await openSession(modelPath, { provider: 'cpu' });
  const io = describeIo(probe.session, modelPath);
  await probe.session.release();
  const dump = new Dump();

  // 1. three layers, one-pass Hessians on 32 calibration windows
  const names = ['layers.1.self_attn.q_proj', 'layers.1.mlp.up_proj', 'layers.1.mlp.down_proj'];
  const chosen = inv.layers.filter((l) => names.includes(l.name));
  const { batches } = await feedBatches(path.join(fx, 'data/calib.txt'), io, modelPath, { seqlen: 256, count: 32, seed: 0, limit: 32 });
  const { stats } = await captureStats(modelPath, batches, { layers: chosen });
  const layerMeta: Record<string, unknown>[] = [];
  for (const l of chosen) {
    const { rows, cols } = l;
    const W = await getLayerWeight(orig, l);
    const H = stats.get(l.name)!.hessian;
    const p = l.name;
    dump.put(`${p}.W`, W, [rows, cols]);
    dump.put(`${p}.H`, H, [cols, cols]);
    const inc = incoherenceForLayer(rows, cols);
    const rl = rotateLayer(W, H, rows, cols, inc);
    dump.put(`${p}.sign_in`, inc.in!.signs, [cols]);
    dump.put(`${p}.sign_out`, inc.out!.signs, [rows]);
    dump.put(`${p}.W_rot`, rl.W, [rows, cols]);
    const g = await native.gptq(rl.W, rl.H!, { rows, cols }, { bits: 2, groupSize: 0 });
    const Q = unrotateWeight(g.weights, rows, cols, inc);
    dump.put(`${p}.gptq_inc.Q`, Q, [rows, cols]);
    const gptqLoss = layerLoss(W, Q, H, rows, cols);
    const spec = { dim: 4, codebooks: 1, bits: 8, iterations: 6 };
    const v = await vqQuantize(W, H, rows, cols, spec);
    dump.put(`${p}.vq.codes`, v.layer.codes as Uint8Array, [rows, cols / 4, 1]);
    dump.put(`${p}.vq.books`, v.layer.books, [1, 256, 4]);
    dump.put(`${p}.vq.scales`, v.layer.scales, [rows]);
    const base = layerLoss(W, new Float32Array(W.length), H, rows, cols);
    layerMeta.push({ name: p, rows, cols, gptqIncLoss: gptqLoss, vqLoss: v.loss, vqSpec: spec, vqHistory: v.history, base });
    console.log(`${p}: gptq+incoherence loss ${gptqLoss.toExponential(4)}, vq loss ${v.loss.toExponential(4)}`);
  }
  dump.meta.layers = layerMeta;

  // 2. a distillation gradient: RTN 2-bit per channel everywhere, VQ on one layer, incoherence on another
  const targets = inv.layers.filter((l) => l.op === 'MatMul' && l.name !== 'lm_head');
  const trained: { info: typeof targets[number]; compressed: CompressedLayer }[] = [];
  const student = new ModelEditor(await loadModel(modelPath));
  const { decodeLayer } = await import('../../extension/runner/engine/extreme/compressed');
  const { setLayerWeight } = await import('../../extension/runner/engine/model/weights');
  for (const l of targets) {
    const { rows, cols } = l;
    const W = await getLayerWeight(orig, l);
    let c: CompressedLayer;
    if (l.name === 'layers.1.self_attn.q_proj') {
      const H = stats.get(l.name)!.hessian;
      const v = await vqQuantize(W, H, rows, cols, { dim: 4, codebooks: 2, bits: 6, iterations: 2 });
      c = { name: l.name, rows, cols, body: { kind: 'vector', ...v.layer } };
    } else {
      const inc = l.name === 'layers.2.mlp.down_proj' ? incoherenceForLayer(rows, cols) : undefined;
      const src = inc ? rotateLayer(W, undefined, rows, cols, inc).W : W;
      const q = await native.rtn(src, { rows, cols }, { bits: 2, groupSize: 0 });
      c = { name: l.name, rows, cols, body: { kind: 'scalar', bits: 2, groupSize: cols, symmetric: false, codes: q.codes, scales: q.scales, zeros: q.zeros }, ...(inc ? { incoherence: inc } : {}) };
    }
    setLayerWeight(student, l, decodeLayer(c));
    trained.push({ info: l, compressed: c });
  }
  const studentPath = path.join(root, 'out/bench/extreme-reference-student.onnx');
  await student.save(studentPath);
  const ft = await feedBatches(path.join(fx, 'data/calib.txt'), io, modelPath, { seqlen: 64, count: 2, seed: 5, limit: 2, batch: 2 });
  const batch: FeedBatch[] = [];
  for await (const b of ft.batches()) batch.push(b);
  const grads: Map<string, Float32Array>[] = [];
  const r = await finetune(await loadModel(studentPath), modelPath, trained, batch, {
    steps: 1, lr: 0, codeFraction: 0, norms: false, inspect: (_s, i, g) => { grads[i] = new Map([...g].map(([k, v]) => [k, Float32Array.from(v)])); },
  });
  const ids = batch[0]!.feeds[io.input]!;
  dump.put('ft.ids', Int32Array.from(ids.data as BigInt64Array, Number), ids.dims.map(Number));
  const ftMeta: Record<string, unknown>[] = [];
  trained.forEach(({ info, compressed: c }, i) => {
    const p = `ft.${info.name}`;
    const b = c.body;
    if (b.kind === 'vector') {
      dump.put(`${p}.codes`, b.codes as Uint8Array, [c.rows, c.cols / b.dim, b.codebooks]);
      dump.put(`${p}.books`, b.books, [b.codebooks, 1 << b.bits, b.dim]);
      dump.put(`${p}.scales`, b.scales, [c.rows]);
      dump.put(`${p}.grad.books`, grads[i]!.get('books')!, [b.codebooks, 1 << b.bits, b.dim]);
    } else {
      dump.put(`${p}.codes`, b.codes, [c.rows, c.cols]);
      dump.put(`${p}.scales`, b.scales, [c.rows]);
      dump.put(`${p}.zeros`, b.zeros, [c.rows]);
    }
    dump.put(`${p}.grad.scales`, grads[i]!.get('scales')!, [c.rows]);
    if (c.incoherence) {
      dump.put(`${p}.sign_in`, c.incoherence.in!.signs, [c.cols]);
      dump.put(`${p}.sign_out`, c.incoherence.out!.signs, [c.rows]);
    }
    ftMeta.push({ name: info.name, kind: b.kind, rows: c.rows, cols: c.cols, incoherence: !!c.incoherence });
  });
  dump.meta.ft = { layers: ftMeta, loss: r.curve[0]!.loss };
  console.log(`distillation loss at step 0: ${r.curve[0]!.loss}`);
  const file = path.join(root, 'out/bench/extreme-reference.bin');
  await dump.write(file);
  console.log(`wrote ${file}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
