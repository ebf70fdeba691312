// The export stage (and `qrecipe export`): write the format into the run folder, verify it
// (onnxruntime-node loads it, its size and bits per weight, the run's quality metric on the exported
// model against the fake-quant evaluation, within 1%, else a warning), record its sha256, then copy
// it to the requested path. The run keeps its own copy, so a later export to the same path does not
// leave this run describing a file that is no longer its.
import path from 'node:path';
import { constants, copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tempPathFor } from '../../../language-server/core/util/atomic';
import { sha256Path } from './provenance';
import type { ExportStage } from '../../../language-server/core/recipe/resolved';
import type { ExportRecord } from '../../../language-server/core/protocol/runner';
import { openSession } from '../engine/evaluate/session';
import type { EventSink } from '../events';
import { exportModel, type ExportFormat } from '../export/onnx-export';
import type { QuantizedLayer } from '../export/quant-store';
import type { RunContext } from './context';
import type { Evaluator, MetricSpec } from './evaluate';

/** Relative tolerance between the exported and the fake-quant metric. */
export const EXPORT_TOLERANCE = 0.01;

export interface ExportCheck {
  spec: MetricSpec;
  fakeQuant: number;
  measure(model: string): Promise<number>;
}

/** Where the k-th export of a run is written in its folder: `exports/<k>/<the requested name>`. */
export function runCopyOf(k: number, out: string): string {
  return path.join('exports', String(k), path.basename(out));
}

/** Copies `from` to `to` through a temp file and a rename (a reflink where the file system has them). */
function copyAtomically(from: string, to: string): void {
  const tmp = tempPathFor(to);
  try {
    copyFileSync(from, tmp, constants.COPYFILE_FICLONE);
    renameSync(tmp, to);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export async function exportAndVerify(o: {
  compressedModel: string; quant: QuantizedLayer[]; format: ExportFormat; out: string; sink: EventSink; signal?: AbortSignal;
  warn(message: string): void; check?: ExportCheck;
  /** The run folder and the export's number in it: the file is written there first. */
  run: { dir: string; index: number };
  /** The size the cost model predicted for this format. */
  predictedBytes?: number;
}): Promise<ExportRecord> {
  const out = path.resolve(o.out);
  const runCopy = runCopyOf(o.run.index, out);
  const inRun = path.join(o.run.dir, runCopy);
  mkdirSync(path.dirname(inRun), { recursive: true });
  mkdirSync(path.dirname(out), { recursive: true });
  const s = await exportModel(o.compressedModel, o.quant, o.format, inRun, { signal: o.signal });
  for (const w of s.warnings) o.warn(w);
  const record: ExportRecord = {
    path: out, format: o.format, bytes: s.bytes, runCopy, sha256: await sha256Path(s.path),
    ...(s.externalPath ? { externalSha256: await sha256Path(s.externalPath) } : {}),
    ...(o.predictedBytes !== undefined ? { predictedBytes: o.predictedBytes } : {}), verified: false,
    quantizedBytes: s.quantizedBytes, quantizedFloatBytes: s.quantizedFloatBytes, bitsPerWeight: s.bitsPerWeight,
    layers: s.layers.map((l) => ({ name: l.name, encoding: l.encoding, bits: l.bits, ...(l.storedBits ? { storedBits: l.storedBits } : {}), bytes: l.bytes })),
  };
  try {
    const { session } = await openSession(s.path, { provider: 'cpu' });
    await session.release();
    record.verified = true;
  } catch (err) {
    o.warn(`the exported model does not load in onnxruntime-node, so it was not written to ${out} (the run keeps it: ${runCopy}): ${(err as Error).message}`);
    return record;
  }
  // the requested path gets the run's file (and its side file, under the name the model refers to)
  if (s.externalPath) copyAtomically(s.externalPath, path.join(path.dirname(out), path.basename(s.externalPath)));
  copyAtomically(s.path, out);
  o.sink.emit({ type: 'artifact', kind: 'export', path: out, bytes: s.bytes });
  const ratio = s.quantizedFloatBytes ? s.quantizedBytes / s.quantizedFloatBytes : 1;
  o.sink.emit({ type: 'log', level: 'info', message: `export ${o.format}: ${s.bytes.toLocaleString('en-US')} bytes; quantised layers ${s.quantizedBytes.toLocaleString('en-US')} bytes = ${ratio.toFixed(3)}x their float32 size, ${s.bitsPerWeight.toFixed(2)} bits per weight` });
  if (o.check) {
    const exported = await o.check.measure(out);
    const relDiff = Math.abs(exported - o.check.fakeQuant) / Math.max(Math.abs(o.check.fakeQuant), 1e-12);
    const ok = relDiff <= EXPORT_TOLERANCE;
    record.check = { metric: o.check.spec.metric, ...(o.check.spec.data ? { dataset: o.check.spec.data } : {}), exported, fakeQuant: o.check.fakeQuant, relDiff, ok };
    o.sink.emit({ type: 'metrics', model: 'exported', ...(o.check.spec.data ? { dataset: o.check.spec.data } : {}), metrics: { [o.check.spec.metric]: exported } });
    if (!ok) o.warn(`the exported model's ${o.check.spec.metric} ${exported.toPrecision(6)} differs from the fake-quant ${o.check.fakeQuant.toPrecision(6)} by ${(100 * relDiff).toFixed(2)}% (more than ${100 * EXPORT_TOLERANCE}%)`);
  }
  return record;
}

export async function runExportStage(ctx: RunContext, stage: ExportStage, compressedModel: string, quant: QuantizedLayer[], evaluator: Evaluator, index: number): Promise<ExportRecord> {
  const q = evaluator.lastQuality;
  const check: ExportCheck | undefined = q ? {
    spec: q.spec, fakeQuant: q.value,
    measure: async (model) => (await evaluator.measure(q.spec, model, 'exported'))!.value,
  } : undefined;
  if (!check) ctx.warn('no evaluate stage before the export: the exported model is only checked for loading');
  const predictedBytes = evaluator.packedSize(stage.format).sizeBytes;
  return exportAndVerify({
    compressedModel, quant, format: stage.format, out: stage.path, sink: ctx.sink, signal: ctx.signal, warn: ctx.warn, check,
    run: { dir: ctx.runDir, index }, predictedBytes,
  });
}
