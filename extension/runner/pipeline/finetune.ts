// The finetune stage (issue #23): knowledge distillation of the compressed model into itself, on the
// stage's calibration data, with the engine's PV-Tuning loop (engine/extreme/finetune.ts). It trains
// every quantised layer the stages before it left with codes: layers compressed in a form of their
// own (vector codes, rotations) and scalar quantised layers with contiguous groups; their codes,
// scales and codebooks change, their size does not. Norm scales and biases are trained too (with
// `norms true`). Progress per step with an ETA; the loss curve goes to run.json.
import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { loadModel } from '../../../language-server/core/model/reader';
import type { FinetuneStage } from '../../../language-server/core/recipe/resolved';
import type { FinetuneRecord } from '../../../language-server/core/protocol/runner';
import { describeIoFromModel } from '../engine/evaluate/io';
import { feedBatches } from '../engine/evaluate/datasets';
import type { FeedBatch } from '../engine/evaluate/agreement';
import { finetune, type TrainedLayer } from '../engine/extreme/finetune';
import type { CompressedLayer } from '../engine/extreme/compressed';
import { calibrationBatch, SCRATCH_DIR } from './calibrate';
import { roundCompressed, scalarForm } from './extreme';
import { StageError, type RunContext } from './context';

/** One line saying what the stage does. */
export function describeFinetune(stage: FinetuneStage): string {
  const p = stage.params;
  return `PV-Tuning ${p.steps} steps (lr ${+(100 * p.lr).toPrecision(3)}%, codes ${+(100 * p.codeFraction).toPrecision(3)}% a step${p.norms ? ', norms' : ''})`;
}

/**
 * Batches (the first of the tuning data) the KL before and after fine-tuning is measured on: the same
 * ones both times, so the two numbers compare like with like (the training curve's batches are
 * shuffled). Each is one forward/backward pass of the gradient model.
 */
export const KL_BATCHES = 4;

export async function runFinetuneStage(ctx: RunContext, stage: FinetuneStage): Promise<FinetuneRecord> {
  const st = ctx.state;
  const data = stage.data ?? ctx.recipe.datasets[0]?.name;
  const dataset = ctx.recipe.datasets.find((d) => d.name === data);
  if (!dataset) throw new StageError(stage, 'finetune needs a calibration data set (write `on NAME`)');
  // the layers with a compressed form: their own, and scalar codes as a compressed form
  const layers: (TrainedLayer & { scalar: boolean })[] = [];
  // (training changes every layer at every step, so all of them are in memory for the stage)
  for (const m of st.compressed) layers.push({ info: st.layer(m.name), compressed: await st.compressedLayer(m.name), scalar: false });
  let skipped = 0;
  for (const meta of st.quantized) {
    const q = await st.quantizedLayer(meta.name);
    const c = scalarForm(q);
    if (!c) { skipped++; continue; }
    layers.push({ info: st.layer(meta.name), compressed: c, scalar: true });
  }
  if (skipped) ctx.warn(`finetune: ${skipped} quantised layer${skipped === 1 ? ' has' : 's have'} act-order groups that are not contiguous: left as quantised`);
  if (!layers.length) throw new StageError(stage, 'finetune: no quantised layer to train (the stages before it left none with codes)');

  const original = st.original.path;
  const io = describeIoFromModel(st.original);
  const s = dataset.source;
  const { batches } = await feedBatches(s.path, io, original, {
    ...('labels' in s ? { labels: s.labels } : {}),
    ...(s.kind === 'text' ? { seqlen: dataset.seqlen, count: dataset.samples, seed: dataset.seed, batch: calibrationBatch(dataset.seqlen), ...(s.tokenizer !== 'byte' ? { tokenizer: s.tokenizer.path } : {}) } : {}),
    limit: dataset.samples,
  });
  const all: FeedBatch[] = [];
  for await (const b of batches()) all.push(b);

  // the student as it is now, written into the run's scratch folder
  const studentFile = path.join(ctx.runDir, SCRATCH_DIR, 'finetune-student.onnx');
  mkdirSync(path.dirname(studentFile), { recursive: true });
  await st.save(studentFile, ctx.signal);
  const student = await loadModel(studentFile);
  const p = stage.params;
  const t0 = Date.now();
  const info = `${layers.length} layers, ${all.length} batches of '${dataset.name}'`;
  ctx.sink.emit({ type: 'log', level: 'info', message: `finetune: ${describeFinetune(stage)} on ${info}` });
  const r = await finetune(student, original, layers, all, {
    steps: p.steps, lr: p.lr, codeLr: p.codeLr, codeFraction: p.codeFraction, norms: p.norms, signal: ctx.signal, measure: KL_BATCHES,
    onStep: (x) => {
      const elapsed = (Date.now() - t0) / 1000;
      ctx.sink.emit({
        type: 'progress', stage: 'finetune', done: x.step, total: p.steps, label: `step ${x.step}: KL ${x.loss.toFixed(4)}, ${x.changed} codes changed`,
        etaSeconds: (elapsed / x.step) * (p.steps - x.step),
      });
    },
  });
  rmSync(studentFile, { force: true });
  // the trained forms back into the model state, as the export will store them
  for (const l of layers) {
    const c: CompressedLayer = l.compressed;
    if (l.scalar && c.body.kind === 'scalar') {
      const q = await st.quantizedLayer(c.name);
      await st.setQuantized({ ...q, codes: c.body.codes, scales: c.body.scales, zeros: c.body.zeros });
    } else {
      roundCompressed(c);
      await st.setCompressed(c);
    }
  }
  for (const [name, v] of r.floats) st.tensors.set(name, Float32Array.from(v));
  const record: FinetuneRecord = {
    stage: stage.index, steps: r.curve.length, seconds: r.seconds, before: r.before, after: r.after, ...(r.measuredOn ? { measuredOn: r.measuredOn } : {}),
    curve: r.curve.map((x) => [x.step, +x.loss.toPrecision(5), x.changed]),
    codesChanged: r.codesChanged, codeUnits: r.codeUnits, layers: layers.length, tensors: r.floats.size,
  };
  const on = r.measuredOn ? `on the same ${r.measuredOn} batch${r.measuredOn === 1 ? '' : 'es'} before and after` : 'first and last tenth of the steps';
  ctx.sink.emit({ type: 'log', level: 'info', message: `finetune: KL ${r.before.toFixed(4)} → ${r.after.toFixed(4)} (${on}), ${r.codesChanged.toLocaleString('en-US')} code changes over ${r.codeUnits.toLocaleString('en-US')} code units, ${r.floats.size} norm/bias tensors, ${r.seconds.toFixed(1)} s` });
  return record;
}
