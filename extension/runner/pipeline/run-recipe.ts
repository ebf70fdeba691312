// One run of a recipe, end to end: preflight (no compute on a bad recipe) → run folder and record
// → load → [calibrate] → prune / quantize / allocate → evaluate → export → final record. The record
// is written atomically at the start (running, with pid) and at the end (succeeded, failed or
// cancelled); artifacts are written through temp files, so no state looks complete before it is.
import path from 'node:path';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tempPathFor } from '../../../language-server/core/util/atomic';
import { armCancelDeadline, removeOwnTempFiles } from '../cancel';
import { createRunDir, writeRecord, LOG_FILE, RUN_FILE } from '../../../language-server/core/runs/store';
import { EXPORT_EXISTS_CODE, RUNNER_PROTOCOL_VERSION, type RunRecord, type RunStatus, type StageKind } from '../../../language-server/core/protocol/runner';
import type { ResolvedStage } from '../../../language-server/core/recipe/resolved';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { processStartToken } from '../../../language-server/core/util/process';
import * as native from '../../../native/index';
import type { EventSink } from '../events';
import { preflight, formatProblem } from './preflight';
import type { StoredRecipe } from '../../../language-server/core/recipe/check';
import { recipeSettings } from '../../../language-server/core/runs/labels';
import { hashDatasets, sha256Path, sha256Text, toolVersions } from './provenance';
import { ModelState } from './model-state';
import { StageError, type RunContext } from './context';
import { runCompressionStage } from './compress';
import { SCRATCH_DIR } from './calibrate';
import { writesCompressedModel } from './scale-policy';
import { Evaluator } from './evaluate';
import { ExportVerifyError, FORCE_HINT, occupiedByExport, runExportStage } from './export-stage';
import { describeFinetune, runFinetuneStage } from './finetune';
import { explain, refusedWrites, writePolicy, type WriteOptions } from '../write-policy';
import { sweepStore } from '../../../language-server/core/runs/store';
import { sweepStaleTemps } from '../../../language-server/core/util/atomic';
import { storeOutsideWorkspace, type WriteProblem } from '../../../language-server/core/util/confine';
import { userMessage } from '../../../language-server/core/util/errors';

/** A file-system error as a sentence: "no space left on the device (ENOSPC)". */
function fsMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return 'no space left on the device (ENOSPC)';
  if (e?.code === 'EDQUOT') return 'disk quota exceeded (EDQUOT)';
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

export interface RunOptions {
  recipe: string;
  /** Re-run: the recipe a run stored (analysed as if at `recipe`) and that run's id and model hash. */
  rerun?: { of: string; stored: StoredRecipe; modelHash: string };
  device: native.Device;
  /** Runs folder (already resolved). */
  runsRoot: string;
  sink: EventSink;
  signal: AbortSignal;
  /**
   * Where the run may write (default: inside the recipe's folder, see write-policy.ts); `force`:
   * replace files already at the recipe's export paths (else the run stops before any compute).
   */
  write?: WriteOptions;
}

export const COMPRESSED_MODEL = 'model.onnx';
export const QUANT_FILE = 'quant.bin';

function resolveDevice(asked: native.Device): string {
  try {
    const info = native.backendInfo();
    if (asked === 'cuda' && !info.cuda.devices.length) throw new Error(`--device cuda: no usable CUDA device (${info.cuda.error ?? 'none found'})`);
    return asked === 'cpu' || !info.cuda.devices.length ? `cpu (${info.threads} threads, ${info.cpuKernel})` : `cuda (${info.cuda.devices[0]!.name})`;
  } catch (err) {
    if (asked === 'cuda') throw err;
    return 'cpu';
  }
}

/** The process's peak resident memory and CPU time so far. */
function resources(): { peakRssMB: number; cpuSeconds: number } {
  const u = process.resourceUsage();
  return { peakRssMB: Math.round(u.maxRSS / 1024), cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6 };
}

function writeRecordSync(dir: string, record: RunRecord): void {
  const file = path.join(dir, RUN_FILE);
  const tmp = tempPathFor(file);
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
  renameSync(tmp, file);
}

/**
 * The cancel deadline's end (cancel.ts calls it once the grace time is over): the run recorded
 * cancelled synchronously, its scratch folder and this process's temp files removed, then run-end.
 * A record that cannot be written (disk full) leaves the last one on disk (running, with this pid:
 * read as failed once the process is gone), and run-end says failed with the cause.
 */
export function endCancelledSync(dir: string, record: RunRecord, tempDirs: readonly string[], sink: EventSink, t0: number): void {
  let status: RunStatus = 'cancelled';
  let error = 'cancelled by the user';
  Object.assign(record, { status, endedAt: new Date().toISOString(), error });
  try {
    writeRecordSync(dir, record);
  } catch (err) {
    status = 'failed';
    error = `${error}; the final run record could not be written (${fsMessage(err)})`;
  }
  try { rmSync(path.join(dir, SCRATCH_DIR), { recursive: true, force: true }); } catch { /* swept at the next start */ }
  removeOwnTempFiles([dir, ...tempDirs]);
  sink.emit({ type: 'run-end', status, seconds: (Date.now() - t0) / 1000, error });
}

function isCancel(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || err instanceof CancelledError || (err instanceof Error && err.name === 'CancelledError');
}

/** Runs the recipe; resolves with the process exit code (0 ok, 1 failed, 130 cancelled). */
export async function runRecipe(o: RunOptions): Promise<number> {
  const t0 = Date.now();
  const { sink, signal } = o;
  const recipePath = path.resolve(o.recipe);
  const write: WriteOptions = o.write ?? { allowOutside: false, force: false };
  const root = write.workspace ?? path.dirname(recipePath);
  const pre = await preflight(recipePath, { root, runsRoot: o.runsRoot, allowOutside: write.allowOutside }, o.rerun?.stored);
  for (const p of pre.problems) {
    sink.emit({ type: 'log', level: p.severity, message: p.message, ...(p.code ? { code: p.code } : {}), ...(p.file ? { file: p.file } : {}), ...(p.line ? { line: p.line, column: p.column } : {}) });
  }
  const errors = pre.problems.filter((p) => p.severity === 'error');
  if (errors.length || !pre.recipe?.model) {
    const first = errors[0] ? formatProblem(errors[0]) : 'the recipe cannot run';
    sink.emit({ type: 'run-end', status: 'failed', seconds: (Date.now() - t0) / 1000, error: `${errors.length} error${errors.length === 1 ? '' : 's'} in the recipe, nothing was run (${first})` });
    return 1;
  }
  const recipe = pre.recipe;
  const model = recipe.model!;
  // every path the run will write, checked before anything is written (and again at the export);
  // an existing file at an export path is the --force rule's (below)
  const policy = await writePolicy({
    root, runsRoot: o.runsRoot,
    inputs: [recipePath, ...(pre.analysis?.imports ?? []), model.path, ...(pre.analysis?.inventory?.externalFiles ?? [])],
  });
  const refused: { p: WriteProblem; s?: ResolvedStage }[] = recipe.stages.flatMap((s) => (s.kind === 'export' ? refusedWrites(s.path, policy, { ...write, force: true }).map((p) => ({ p, s })) : []));
  const store = storeOutsideWorkspace(o.runsRoot, write.workspace);
  if (store && !write.allowOutside) refused.unshift({ p: store });
  if (refused.length) {
    sink.emit({ type: 'write-refused', problems: refused.map(({ p }) => ({ kind: p.kind, path: p.target, message: p.message })) });
    for (const { p, s } of refused) sink.emit({ type: 'log', level: 'error', message: explain(p), ...(s ? { file: s.range.file, line: s.range.start.line + 1, column: s.range.start.character + 1 } : {}) });
    sink.emit({ type: 'run-end', status: 'failed', seconds: (Date.now() - t0) / 1000, error: `nothing was run: ${explain(refused[0]!.p)}` });
    return 1;
  }
  // An export never replaces a file silently: the user's, or an earlier run's (which keeps its own copy).
  const taken = write.force ? [] : recipe.stages.flatMap((st) => (st.kind === 'export' ? occupiedByExport(st.path).map((f) => ({ st, f })) : []));
  if (taken.length) {
    for (const { st, f } of taken) {
      const at = { file: st.range.file, line: st.range.start.line + 1, column: st.range.start.character + 1 };
      sink.emit({ type: 'log', level: 'error', code: EXPORT_EXISTS_CODE, ...at, message: `the export path ${f} holds a file already; ${FORCE_HINT}` });
    }
    sink.emit({ type: 'run-end', status: 'failed', seconds: (Date.now() - t0) / 1000, error: `${taken[0]!.f} exists and the recipe exports there, nothing was run: ${FORCE_HINT}` });
    return 1;
  }
  let device: string;
  try {
    device = resolveDevice(o.device);
  } catch (err) {
    sink.emit({ type: 'run-end', status: 'failed', seconds: 0, error: (err as Error).message });
    return 1;
  }

  // what earlier runs killed mid-write left behind (temp files of dead processes, scratch folders)
  await sweepStore(o.runsRoot);
  for (const d of new Set([path.dirname(model.path), ...recipe.stages.flatMap((s) => (s.kind === 'export' ? [path.dirname(s.path)] : []))])) sweepStaleTemps(d);

  // Block-sized buffers are built and dropped all run long: let the allocator give them back.
  if (native.isAvailable()) native.tuneAllocator();
  // a full disk may refuse the folder or its first record: then nothing is left behind
  let id: string, dir: string;
  try {
    ({ id, dir } = await createRunDir(o.runsRoot, recipePath));
  } catch (err) {
    sink.emit({ type: 'run-end', status: 'failed', seconds: (Date.now() - t0) / 1000, error: `cannot create the run folder in ${o.runsRoot}: ${fsMessage(err)}` });
    return 1;
  }
  sink.attachLog(path.join(dir, LOG_FILE));
  const warnings: string[] = [];
  const record: RunRecord = {
    id, status: 'running', recipePath, recipeText: pre.text, recipeHash: sha256Text(pre.text),
    ...(Object.keys(pre.imports).length ? { importTexts: pre.imports } : {}), ...(o.rerun ? { rerunOf: o.rerun.of } : {}),
    modelPath: model.path, modelHash: '', dataHashes: {}, seed: recipe.datasets[0]?.seed ?? 0,
    versions: toolVersions(native.isAvailable() ? native.backendInfo().version : undefined), device, pid: process.pid, pidStart: processStartToken(process.pid),
    startedAt: new Date(t0).toISOString(), stageSeconds: {}, metrics: {}, layers: [], artifacts: { exports: [], log: LOG_FILE }, warnings,
    settings: recipeSettings(recipe),
  };
  try {
    await writeRecord(dir, record);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    sink.emit({ type: 'run-end', status: 'failed', seconds: (Date.now() - t0) / 1000, error: `cannot write the run record in ${dir} (${fsMessage(err)}); the run folder was removed` });
    return 1;
  }
  sink.emit({ type: 'run-start', protocol: RUNNER_PROTOCOL_VERSION, runId: id, runDir: dir, recipe: recipePath, device, time: record.startedAt });
  for (const p of pre.problems) if (p.severity === 'warning') warnings.push(formatProblem(p));

  let status: RunStatus = 'succeeded';
  let error: string | undefined;
  let stageIndex = 0;
  let state: ModelState | undefined;
  // A cancelled run that has not unwound within the grace time (an onnxruntime run in flight) is
  // recorded cancelled here, synchronously, with its scratch and temp files removed; then the process ends.
  const exportDirs = recipe.stages.flatMap((st) => (st.kind === 'export' ? [path.dirname(path.resolve(st.path))] : []));
  const disarm = armCancelDeadline(signal, () => {
    record.layers = state?.results ?? [];
    endCancelledSync(dir, record, exportDirs, sink, t0);
  });
  const timed = async <T>(stage: StageKind, label: string, fn: () => Promise<T>): Promise<T> => {
    const index = stageIndex++;
    sink.emit({ type: 'stage-start', stage, index, label });
    const s0 = Date.now();
    const r = await fn();
    const seconds = (Date.now() - s0) / 1000;
    record.stageSeconds[stage] = (record.stageSeconds[stage] ?? 0) + seconds;
    sink.emit({ type: 'stage-end', stage, index, seconds });
    return r;
  };
  let current: ResolvedStage | undefined;
  try {
    record.modelHash = await sha256Path(model.path, signal, 'model file');
    if (o.rerun && o.rerun.modelHash && o.rerun.modelHash !== record.modelHash) {
      const m = `the model ${model.path} changed since run ${o.rerun.of} (sha256 ${o.rerun.modelHash.slice(0, 12)}… then, ${record.modelHash.slice(0, 12)}… now)`;
      warnings.push(m);
      sink.emit({ type: 'log', level: 'warning', message: m });
    }
    record.dataHashes = await hashDatasets(recipe.datasets, signal);
    await writeRecord(dir, record);
    state = await timed('load', `model ${path.basename(model.path)}`, () => ModelState.load(model.path, path.join(dir, SCRATCH_DIR)));
    record.calibration = [];
    const ctx: RunContext = {
      sink, signal, device: o.device, recipe, state, runDir: dir, recipeText: pre.text, calibration: record.calibration, replaceExports: write.force,
      warn: (message) => { warnings.push(message); sink.emit({ type: 'log', level: 'warning', message }); },
    };
    const evaluator = new Evaluator(ctx);
    let saved = false;
    const writeModel = writesCompressedModel(state);
    if (!writeModel) sink.emit({ type: 'log', level: 'info', message: `the model's weights are ${(state.inventory.totalBytes / 1e9).toFixed(1)} GB: the compressed model is kept as codes (quant.bin) and evaluated through its blocks; no fake-quant copy is written` });
    const saveCompressed = async (): Promise<string | undefined> => {
      if (!writeModel) return undefined;
      const file = path.join(dir, COMPRESSED_MODEL);
      if (!saved) {
        const bytes = await state!.save(file, signal);
        record.artifacts.compressedModel = COMPRESSED_MODEL;
        sink.emit({ type: 'artifact', kind: 'model', path: file, bytes });
        saved = true;
      }
      return file;
    };
    for (const stage of recipe.stages) {
      current = stage;
      if (stage.kind === 'prune' || stage.kind === 'quantize' || stage.kind === 'allocate') {
        saved = false;
        await runCompressionStage(ctx, stage, timed);
      } else if (stage.kind === 'finetune') {
        saved = false;
        const r = await timed('finetune', describeFinetune(stage), () => runFinetuneStage(ctx, stage));
        (record.finetune ??= []).push(r);
      } else if (stage.kind === 'evaluate') {
        const file = await saveCompressed();
        await timed('evaluate', stage.metrics.map((m) => m.metric + (m.data ? ` on ${m.data}` : '')).join(', '), async () => {
          const m = await evaluator.evaluate(stage, file);
          record.metrics.original = { ...record.metrics.original, ...m.original };
          record.metrics.compressed = { ...record.metrics.compressed, ...m.compressed };
        });
      } else if (stage.kind === 'export') {
        await timed('export', `${stage.format} ${stage.path}`, async () => {
          record.artifacts.exports.push(await runExportStage(ctx, stage, evaluator, record.artifacts.exports.length, { policy, options: write }).catch((err: unknown) => {
            if (err instanceof ExportVerifyError) record.artifacts.exports.push(err.record); // kept in the record, marked unverified
            throw err;
          }));
        });
      }
      record.layers = state.results;
      await writeRecord(dir, record);
    }
    current = undefined;
    await saveCompressed();
    if (state.quantized.length || state.compressed.length) {
      const bytes = await state.writeQuantStore(path.join(dir, QUANT_FILE), signal);
      record.artifacts.quant = QUANT_FILE;
      sink.emit({ type: 'artifact', kind: 'report', path: path.join(dir, QUANT_FILE), bytes });
    }
  } catch (err) {
    status = isCancel(err, signal) ? 'cancelled' : 'failed';
    error = status === 'cancelled' ? 'cancelled by the user' : userMessage(err);
    const where = current ?? (err instanceof StageError ? err.stage : undefined);
    if (status === 'failed') {
      sink.emit({
        type: 'log', level: 'error', message: error,
        ...(where ? { file: where.range.file, line: where.range.start.line + 1, column: where.range.start.character + 1 } : {}),
      });
      if (process.env.QRECIPE_DEBUG && err instanceof Error) sink.emit({ type: 'log', level: 'error', message: err.stack ?? '' });
    }
  }
  disarm();
  await state?.close().catch(() => undefined);
  rmSync(path.join(dir, SCRATCH_DIR), { recursive: true, force: true });
  record.layers = state?.results ?? [];
  record.status = status;
  record.endedAt = new Date().toISOString();
  record.resources = resources();
  sink.emit({ type: 'log', level: 'info', message: `peak RSS ${record.resources.peakRssMB} MB, CPU ${record.resources.cpuSeconds.toFixed(1)} s` });
  if (error) record.error = error;
  try {
    if (!existsSync(path.join(dir, RUN_FILE))) throw new Error(`run folder ${dir} disappeared`);
    await writeRecord(dir, record);
  } catch (err) {
    // the record on disk is the last one written (running, with this pid): readers report it failed
    // once this process is gone; the event stream still ends with run-end
    status = 'failed';
    error = `${error ? `${error}; ` : ''}the final run record could not be written (${fsMessage(err)})`;
  }
  sink.emit({ type: 'run-end', status, seconds: (Date.now() - t0) / 1000, ...(error ? { error } : {}) });
  return status === 'succeeded' ? 0 : status === 'cancelled' ? 130 : 1;
}
