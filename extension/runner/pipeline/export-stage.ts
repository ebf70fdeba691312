// The export stage (and `qrecipe export`): check the requested path against the write confinement
// (again right before the copy), write the format into the run folder, verify it there:
// onnxruntime-node loads it with the source's inputs and outputs (names and element types: a
// KV-cache model keeps its past/present interface), else the export FAILS (ExportVerifyError,
// carrying the record, nothing written to the requested path); record its sha256, size and bits
// per weight; copy it to the requested path (the run keeps its own copy, so a later export to the
// same path does not leave this run describing a file that is no longer its); check the run's
// quality metric on the exported model against the fake-quant evaluation (within 1%, else a
// warning); write the deploy folder's files beside it.
import path from 'node:path';
import { constants, existsSync, linkSync, mkdirSync, promises as fsp, renameSync, rmSync, statSync } from 'node:fs';
import { tempPathFor } from '../../../language-server/core/util/atomic';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { readRecipeText } from '../../../language-server/core/recipe/host';
import { EXPORTS_DIR } from '../../../language-server/core/runs/store';
import type { WritePolicy } from '../../../language-server/core/util/confine';
import { explain, refusedWrites, type WriteOptions } from '../write-policy';
import type { ExportStage } from '../../../language-server/core/recipe/resolved';
import type { ExportRecord } from '../../../language-server/core/protocol/runner';
import { openSession } from '../engine/evaluate/session';
import type { EventSink } from '../events';
import { exportModel, type ExportFormat, type ExportOptions, type GraphInterface, type QuantSource } from '../export/onnx-export';
import type { ModelEditor } from '../engine/model/writer';
import type { QuantizedLayer } from '../export/quant-store';
import { exportDecode } from '../export/decode-export';
import type { CompressedMeta, CompressedSource } from '../export/compressed-entry';
import { OWN_FORM_FORMATS, ownFormRefusal } from '../../../language-server/core/cost/formats';
import type { RunContext } from './context';
import type { Evaluator, MetricSpec } from './evaluate';
import { writeDeployFolder, type Provenance } from '../export/deploy-folder';
import { describeStage } from './compress';
import { sha256Path, sha256Text, toolVersions } from './provenance';

/**
 * Refuses a format that cannot hold layers in a form of their own, with the checker's reason
 * (QR122) and the layers named.
 */
export function refuseOwnForms(format: ExportFormat, metas: readonly CompressedMeta[]): void {
  if (!metas.length || OWN_FORM_FORMATS.includes(format)) return;
  const n = metas.length;
  const names = `${metas.slice(0, 3).map((m) => m.name).join(', ')}${n > 3 ? ', ...' : ''}`;
  throw new Error(`${ownFormRefusal(format, metas.some((m) => m.body.kind === 'vector'))} (${n} layer${n === 1 ? '' : 's'}: ${names})`);
}

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

/** Where the k-th export of a run is written in its folder: `exports/<k>/<the requested name>`. */
export function runCopyOf(k: number, out: string): string {
  return path.join(EXPORTS_DIR, String(k), path.basename(out));
}

// The files an export would replace, and the hint when one stops it: one definition, shared with
// the checker's QR401 warning (core/util/confine.ts).
export { FORCE_HINT, occupiedByExport } from '../../../language-server/core/util/confine';
import { FORCE_HINT } from '../../../language-server/core/util/confine';

/**
 * Copies `from` to `to` through a temp file (a reflink where the file system has them), then a
 * rename, or, when `replace` is false, a hard link, which fails rather than replace a file that
 * appeared meanwhile (where hard links are not supported: a check just before the rename). The
 * copy does not block the event loop, so a cancel during a big model's copy is honoured (the
 * run's cancel deadline removes the temp file).
 */
async function copyAtomically(from: string, to: string, replace: boolean, signal?: AbortSignal): Promise<void> {
  const tmp = tempPathFor(to);
  try {
    await fsp.copyFile(from, tmp, constants.COPYFILE_FICLONE);
    if (signal?.aborted) throw new CancelledError('copying the export');
    if (replace) return renameSync(tmp, to);
    try {
      linkSync(tmp, to);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new Error(`${to} exists and was not replaced: ${FORCE_HINT}`);
      if (existsSync(to)) throw new Error(`${to} exists and was not replaced: ${FORCE_HINT}`);
      renameSync(tmp, to);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

export async function exportAndVerify(o: {
  compressedModel: string | ModelEditor; quant: QuantizedLayer[] | QuantSource; format: ExportFormat; out: string; sink: EventSink; signal?: AbortSignal;
  /** Layers compressed in a form of their own (vector codes, rotations): onnx-decode writes them, onnx-fakequant their decode; other formats cannot. */
  compressed?: CompressedSource;
  warn(message: string): void; check?: ExportCheck;
  /** The write confinement the requested path (and its side file) is checked against, before and right before the copy. */
  write?: ExportWrite;
  /** The run folder and the export's number in it: the file is written there first. */
  run: { dir: string; index: number };
  /** Whether a file already at the requested path (or its side file) may be replaced (`--force`). */
  replace: boolean;
  /** The size the cost model predicted for this format. */
  predictedBytes?: number;
  /** Where the export came from, written into its metadata_props. */
  provenance?: ExportOptions['provenance'];
  /** The source model (its folder's Hugging Face / genai files go beside the export) and the README's facts. */
  deploy?: { sourceModel: string; provenance?: Provenance };
}): Promise<ExportRecord> {
  const out = path.resolve(o.out);
  // where the export may go, checked here and again right before the copy (a folder may have become a link meanwhile);
  // an existing file is the `replace` rule's (below), not the confinement's
  const confine = (files: string[]): void => {
    const refused = o.write ? files.flatMap((f) => refusedWrites(f, o.write!.policy, { ...o.write!.options, force: true })) : [];
    if (refused.length) throw new Error(`refused to write the export: ${refused.map(explain).join('; ')}`);
  };
  confine([out]);
  const runCopy = runCopyOf(o.run.index, out);
  const inRun = path.join(o.run.dir, runCopy);
  mkdirSync(path.dirname(inRun), { recursive: true });
  mkdirSync(path.dirname(out), { recursive: true });
  const own: CompressedSource = o.compressed ?? { metas: [], load: () => Promise.reject(new Error('no compressed layers')) };
  refuseOwnForms(o.format, own.metas);
  const s = o.format === 'onnx-decode'
    ? await exportDecode(o.compressedModel, o.quant, own, inRun, { signal: o.signal, provenance: o.provenance })
    : await exportModel(o.compressedModel, o.quant, o.format, inRun, { signal: o.signal, provenance: o.provenance });
  for (const w of s.warnings) o.warn(w);
  const record: ExportRecord = {
    path: out, format: o.format, bytes: s.bytes, runCopy, sha256: await sha256Path(s.path),
    ...(s.externalPath ? { externalSha256: await sha256Path(s.externalPath) } : {}),
    ...(o.predictedBytes !== undefined ? { predictedBytes: o.predictedBytes } : {}), verified: false,
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
    throw new ExportVerifyError(`the exported model does not load in onnxruntime-node, so the export failed and nothing was written to ${out} (the run keeps the file: ${runCopy}): ${(err as Error).message}`, record);
  }
  if (problems.length) throw new ExportVerifyError(`the exported model does not keep the source model's interface, so the export failed and nothing was written to ${out} (the run keeps the file: ${runCopy}): ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}`, record);
  record.verified = true;
  // the requested path gets the run's file (and its side file, under the name the model refers to);
  // a file that appeared there during the run is not replaced unless asked: the run keeps its copy
  const side = s.externalPath ? path.join(path.dirname(out), path.basename(s.externalPath)) : undefined;
  confine([out, ...(side ? [side] : [])]);
  try {
    if (!o.replace) {
      const taken = [out, ...(side ? [side] : [])].filter((f) => existsSync(f));
      if (taken.length) throw new Error(`${taken.join(' and ')} exist${taken.length === 1 ? 's' : ''} and ${taken.length === 1 ? 'was' : 'were'} not replaced: ${FORCE_HINT}`);
    }
    if (s.externalPath) await copyAtomically(s.externalPath, side!, o.replace, o.signal);
    await copyAtomically(s.path, out, o.replace, o.signal);
  } catch (err) {
    if (err instanceof CancelledError) throw err;
    throw new ExportVerifyError(`the export was written and verified in the run folder (${runCopy}) but not to the requested path: ${(err as Error).message}`, record);
  }
  record.mtimeMs = statSync(out).mtimeMs;
  if (s.externalPath) record.externalBytes = statSync(s.externalPath).size;
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
  if (o.deploy) {
    // the deploy folder is the requested path's (the run keeps the model alone)
    const d = await writeDeployFolder({ exportPath: out, sourceModel: o.deploy.sourceModel, record, provenance: o.deploy.provenance, hash: sha256Path });
    for (const w of d.warnings) o.warn(w);
    record.deployFiles = d.written;
    for (const f of d.written) o.sink.emit({ type: 'artifact', kind: 'export', path: path.join(path.dirname(out), f), bytes: statSync(path.join(path.dirname(out), f)).size });
  }
  return record;
}

/** The recipe's export: written from the original model with the run's changed weights and codes, one layer at a time. */
/** `index`: the export's number in the run (its folder there: exports/<index>/). */
export async function runExportStage(ctx: RunContext, stage: ExportStage, evaluator: Evaluator, index: number, write?: ExportWrite): Promise<ExportRecord> {
  const st = ctx.state;
  const compressedModel = await st.editorWithChanges();
  const quant: QuantSource = { names: st.quantized.map((x) => x.name), load: (n) => st.quantizedLayer(n) };
  const q = evaluator.lastQuality;
  const check: ExportCheck | undefined = q ? {
    spec: q.spec, fakeQuant: q.value,
    measure: async (model) => (await evaluator.measure(q.spec, model, 'exported'))!.value,
  } : undefined;
  if (!check) ctx.warn('no evaluate stage before the export: the exported model is only checked for loading');
  const recipeText = ctx.recipeText ?? await readRecipeText(ctx.recipe.file); // as hashed at the run's start (no BOM, regular file)
  const provenance: Provenance = {
    runId: path.basename(ctx.runDir), recipePath: ctx.recipe.file, recipeText, recipeHash: sha256Text(recipeText),
    modelPath: ctx.state.original.path, modelHash: await sha256Path(ctx.state.original.path), qrecipeVersion: toolVersions().qrecipe,
    metrics: evaluator.measured,
    stages: ctx.recipe.stages.slice(0, ctx.recipe.stages.indexOf(stage)).flatMap((x) => (x.kind === 'prune' || x.kind === 'quantize' || x.kind === 'allocate' ? [describeStage(x)] : [])),
  };
  const predictedBytes = evaluator.packedSize(stage.format).sizeBytes;
  const earlier = ctx.recipe.stages.slice(0, ctx.recipe.stages.indexOf(stage));
  return exportAndVerify({
    compressedModel, quant, format: stage.format, out: stage.path, sink: ctx.sink, signal: ctx.signal, warn: ctx.warn, check, compressed: st.compressedSource(),
    // a path an earlier export stage of this run wrote is this run's to replace
    run: { dir: ctx.runDir, index }, replace: !!ctx.replaceExports || earlier.some((x) => x.kind === 'export' && path.resolve(x.path) === path.resolve(stage.path)), predictedBytes,
    provenance: { source: ctx.recipe.model?.path, recipe: ctx.recipe.file, run: path.basename(ctx.runDir) },
    deploy: { sourceModel: ctx.state.original.path, provenance }, write,
  });
}
