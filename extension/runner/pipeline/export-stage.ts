// The export stage (and `qrecipe export`): check the path against the write confinement (again,
// right before writing), write the format, then verify it: onnxruntime-node loads it with the
// source's inputs and outputs (names and element types: a KV-cache model keeps its past/present
// interface), else the export FAILS (ExportVerifyError, carrying the record); its size and bits per
// weight; and the run's quality metric on the exported model against the fake-quant evaluation
// (within 1%, else a warning).
import path from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import { readRecipeText } from '../../../language-server/core/recipe/host';
import type { WritePolicy } from '../../../language-server/core/util/confine';
import { explain, refusedWrites, type WriteOptions } from '../write-policy';
import type { ExportStage } from '../../../language-server/core/recipe/resolved';
import type { ExportRecord } from '../../../language-server/core/protocol/runner';
import { openSession } from '../engine/evaluate/session';
import type { EventSink } from '../events';
import { exportModel, type ExportFormat, type ExportOptions, type GraphInterface, type QuantSource } from '../export/onnx-export';
import type { ModelEditor } from '../engine/model/writer';
import type { QuantizedLayer } from '../export/quant-store';
import type { RunContext } from './context';
import type { Evaluator, MetricSpec } from './evaluate';
import { writeDeployFolder, type Provenance } from '../export/deploy-folder';
import { describeStage } from './compress';
import { sha256Path, sha256Text, toolVersions } from './provenance';

/** An export that was written but is not usable: the run (or `qrecipe export`) fails with it. */
export class ExportVerifyError extends Error {
  constructor(message: string, readonly record: ExportRecord) {
    super(message);
    this.name = 'ExportVerifyError';
  }
}

type IoMeta = { name: string; type?: string };

/** Differences between the source's interface and the export session's, as readable phrases. */
function interfaceProblems(want: GraphInterface, session: { inputMetadata: readonly unknown[]; outputMetadata: readonly unknown[] }, float32Twin = false): string[] {
  const out: string[] = [];
  // A bfloat16 export opened as its float32 twin declares float32 where the source says bfloat16.
  const as = (t: string): string => (float32Twin && t === 'bfloat16' ? 'float32' : t);
  const check = (kind: string, w: { name: string; type: string }[], got: IoMeta[]): void => {
    const byName = new Map(got.map((m) => [m.name, m]));
    for (const x of w) {
      const g = byName.get(x.name);
      if (!g) out.push(`${kind} '${x.name}' is missing`);
      else if (g.type && x.type && !x.type.startsWith('unknown') && g.type !== as(x.type)) out.push(`${kind} '${x.name}' is ${g.type}, the source's is ${x.type}`);
    }
    const names = new Set(w.map((x) => x.name));
    for (const g of got) if (!names.has(g.name)) out.push(`${kind} '${g.name}' is new`);
  };
  check('input', want.inputs, session.inputMetadata as IoMeta[]);
  check('output', want.outputs, session.outputMetadata as IoMeta[]);
  return out;
}

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
  compressedModel: string | ModelEditor; quant: QuantizedLayer[] | QuantSource; format: ExportFormat; out: string; sink: EventSink; signal?: AbortSignal;
  warn(message: string): void; check?: ExportCheck; write?: ExportWrite;
  /** Where the export came from, written into its metadata_props. */
  provenance?: ExportOptions['provenance'];
  /** The source model (its folder's Hugging Face / genai files go beside the export) and the README's facts. */
  deploy?: { sourceModel: string; provenance?: Provenance };
}): Promise<ExportRecord> {
  // checked again here, not only before the run: a file may have appeared, a folder become a link
  const refused = o.write ? refusedWrites(o.out, o.write.policy, o.write.options) : [];
  if (refused.length) throw new Error(`refused to write the export: ${refused.map(explain).join('; ')}`);
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const s = await exportModel(o.compressedModel, o.quant, o.format, o.out, { signal: o.signal, provenance: o.provenance });
  for (const w of s.warnings) o.warn(w);
  o.sink.emit({ type: 'artifact', kind: 'export', path: s.path, bytes: s.bytes });
  const record: ExportRecord = {
    path: s.path, format: o.format, bytes: s.bytes, verified: false,
    quantizedBytes: s.quantizedBytes, quantizedFloatBytes: s.quantizedFloatBytes, bitsPerWeight: s.bitsPerWeight,
    layers: s.layers.map((l) => ({ name: l.name, encoding: l.encoding, bits: l.bits, ...(l.storedBits ? { storedBits: l.storedBits } : {}), bytes: l.bytes })),
  };
  let problems: string[];
  try {
    const { session, float32Twin } = await openSession(s.path, { provider: 'cpu' });
    problems = interfaceProblems(s.io, session, float32Twin);
    await session.release();
    if (float32Twin) o.warn(`the bfloat16 export was checked as its float32 twin (the same graph in float32): onnxruntime's CPU provider has no bfloat16 kernels`);
  } catch (err) {
    throw new ExportVerifyError(`the exported model ${s.path} does not load in onnxruntime-node, so the export failed: ${(err as Error).message}`, record);
  }
  if (problems.length) throw new ExportVerifyError(`the exported model ${s.path} does not keep the source model's interface, so the export failed: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}`, record);
  record.verified = true;
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
  if (o.deploy) {
    const d = await writeDeployFolder({ exportPath: s.path, sourceModel: o.deploy.sourceModel, record, provenance: o.deploy.provenance, hash: sha256Path });
    for (const w of d.warnings) o.warn(w);
    record.deployFiles = d.written;
    for (const f of d.written) o.sink.emit({ type: 'artifact', kind: 'export', path: path.join(path.dirname(s.path), f), bytes: statSync(path.join(path.dirname(s.path), f)).size });
  }
  return record;
}

/** The recipe's export: written from the original model with the run's changed weights and codes, one layer at a time. */
export async function runExportStage(ctx: RunContext, stage: ExportStage, evaluator: Evaluator, write?: ExportWrite): Promise<ExportRecord> {
  const st = ctx.state;
  const compressedModel = await st.editorWithChanges();
  const quant: QuantSource = { names: st.quantized.map((x) => x.name), load: (n) => st.quantizedLayer(n) };
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
  const recipeText = await readRecipeText(ctx.recipe.file); // as hashed at the run's start (no BOM, regular file)
  const provenance: Provenance = {
    runId: path.basename(ctx.runDir), recipePath: ctx.recipe.file, recipeText, recipeHash: sha256Text(recipeText),
    modelPath: ctx.state.original.path, modelHash: await sha256Path(ctx.state.original.path), qrecipeVersion: toolVersions().qrecipe,
    metrics: evaluator.measured,
    stages: ctx.recipe.stages.slice(0, ctx.recipe.stages.indexOf(stage)).flatMap((x) => (x.kind === 'prune' || x.kind === 'quantize' || x.kind === 'allocate' ? [describeStage(x)] : [])),
  };
  return exportAndVerify({
    compressedModel, quant, format: stage.format, out: stage.path, sink: ctx.sink, signal: ctx.signal, warn: ctx.warn, check,
    provenance: { source: ctx.recipe.model?.path, recipe: ctx.recipe.file, run: path.basename(ctx.runDir) },
    deploy: { sourceModel: ctx.state.original.path, provenance }, write,
  });
}
