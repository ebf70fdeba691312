// The export stage (and `qrecipe export`): check the path against the write confinement, write the
// format, then verify it: onnxruntime-node loads it (else the file is removed and the run or export
// fails), its size and bits per weight, and the run's quality metric on the exported model against
// the fake-quant evaluation (within 1%, else a warning).
import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import type { WritePolicy } from '../../../language-server/core/util/confine';
import { explain, refusedWrites, type WriteOptions } from '../write-policy';
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

/** The write confinement an export is checked against right before it is written. */
export interface ExportWrite { policy: WritePolicy; options: WriteOptions }

export async function exportAndVerify(o: {
  compressedModel: string; quant: QuantizedLayer[]; format: ExportFormat; out: string; sink: EventSink; signal?: AbortSignal;
  warn(message: string): void; check?: ExportCheck; write?: ExportWrite;
}): Promise<ExportRecord> {
  // checked again here, not only before the run: a file may have appeared, a folder become a link
  const refused = o.write ? refusedWrites(o.out, o.write.policy, o.write.options) : [];
  if (refused.length) throw new Error(`refused to write the export: ${refused.map(explain).join('; ')}`);
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const s = await exportModel(o.compressedModel, o.quant, o.format, o.out, { signal: o.signal });
  for (const w of s.warnings) o.warn(w);
  o.sink.emit({ type: 'artifact', kind: 'export', path: s.path, bytes: s.bytes });
  const record: ExportRecord = {
    path: s.path, format: o.format, bytes: s.bytes, verified: false,
    quantizedBytes: s.quantizedBytes, quantizedFloatBytes: s.quantizedFloatBytes, bitsPerWeight: s.bitsPerWeight,
    layers: s.layers.map((l) => ({ name: l.name, encoding: l.encoding, bits: l.bits, ...(l.storedBits ? { storedBits: l.storedBits } : {}), bytes: l.bytes })),
  };
  try {
    const { session } = await openSession(s.path, { provider: 'cpu' });
    await session.release();
    record.verified = true;
  } catch (err) {
    // a file that does not load must not look like a result: removed, and the run or export fails
    rmSync(s.path, { force: true });
    if (s.path !== path.resolve(o.out)) rmSync(path.resolve(o.out), { force: true });
    throw new Error(`the exported model does not load in onnxruntime-node, so it was removed: ${(err as Error).message}`);
  }
  const ratio = s.quantizedFloatBytes ? s.quantizedBytes / s.quantizedFloatBytes : 1;
  o.sink.emit({ type: 'log', level: 'info', message: `export ${o.format}: ${s.bytes.toLocaleString('en-US')} bytes; quantised layers ${s.quantizedBytes.toLocaleString('en-US')} bytes = ${ratio.toFixed(3)}x their float32 size, ${s.bitsPerWeight.toFixed(2)} bits per weight` });
  if (o.check) {
    const exported = await o.check.measure(s.path);
    const relDiff = Math.abs(exported - o.check.fakeQuant) / Math.max(Math.abs(o.check.fakeQuant), 1e-12);
    const ok = relDiff <= EXPORT_TOLERANCE;
    record.check = { metric: o.check.spec.metric, ...(o.check.spec.data ? { dataset: o.check.spec.data } : {}), exported, fakeQuant: o.check.fakeQuant, relDiff, ok };
    o.sink.emit({ type: 'metrics', model: 'exported', ...(o.check.spec.data ? { dataset: o.check.spec.data } : {}), metrics: { [o.check.spec.metric]: exported } });
    if (!ok) o.warn(`the exported model's ${o.check.spec.metric} ${exported.toPrecision(6)} differs from the fake-quant ${o.check.fakeQuant.toPrecision(6)} by ${(100 * relDiff).toFixed(2)}% (more than ${100 * EXPORT_TOLERANCE}%)`);
  }
  return record;
}

export async function runExportStage(ctx: RunContext, stage: ExportStage, compressedModel: string, quant: QuantizedLayer[], evaluator: Evaluator, write?: ExportWrite): Promise<ExportRecord> {
  const q = evaluator.lastQuality;
  const check: ExportCheck | undefined = q ? {
    spec: q.spec, fakeQuant: q.value,
    measure: async (model) => (await evaluator.measure(q.spec, model, 'exported'))!.value,
  } : undefined;
  if (!check) ctx.warn('no evaluate stage before the export: the exported model is only checked for loading');
  const outliers = [...ctx.state.outlierLayers.keys()];
  if (outliers.length && stage.format !== 'onnx-fakequant') {
    ctx.warn(`${outliers.length} layer${outliers.length === 1 ? '' : 's'} with fp16 outliers (${outliers.slice(0, 3).join(', ')}${outliers.length > 3 ? ', ...' : ''}) have no ${stage.format} form yet: written with their dequantised float weights`);
  }
  return exportAndVerify({ compressedModel, quant, format: stage.format, out: stage.path, sink: ctx.sink, signal: ctx.signal, warn: ctx.warn, check, write });
}
