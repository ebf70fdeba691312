// `qrecipe export RUN --format F -o FILE [--runs DIR]`: packs a finished run's compressed model
// (its run folder's model.onnx and quant.bin — scalar codes, and the vector codes, codebooks and
// rotations of vq / incoherence layers; for a big model's run, which keeps only quant.bin, the
// original model with the codes decoded) into an export format, verifies the file and adds it to
// the run's record.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { findRun, sweepStore, writeRecord } from '../../../language-server/core/runs/store';
import { sweepStaleTemps } from '../../../language-server/core/util/atomic';
import { storeOutsideWorkspace } from '../../../language-server/core/util/confine';
import { checkFile } from '../../../language-server/core/recipe/check';
import { evaluateModel } from '../engine/evaluate/index';
import { parseArgs, UsageError, withUsage } from '../args';
import { resolveRunsRoot } from '../workspace';
import { createSink, type EventSink } from '../events';
import { listenForCancel } from '../cancel';
import { progressEvents } from '../analysis-command';
import { EXPORT_FORMATS, predictedSize, type ExportFormat } from '../export/onnx-export';
import { dequantize, readQuantStoreAll, type QuantizedLayer } from '../export/quant-store';
import { compressedSourceOf } from '../export/compressed-entry';
import { decodeLayer, type CompressedLayer } from '../engine/extreme/compressed';
import { layoutOfCompressed } from '../pipeline/extreme';
import { isOwnFormMethod } from '../../../language-server/core/cost/formats';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../engine/model/writer';
import { setLayerWeightLazy } from '../engine/model/weights';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { exportAndVerify, ExportVerifyError, FORCE_HINT, occupiedByExport, refuseOwnForms, type ExportCheck } from '../pipeline/export-stage';
import { dataSpec } from '../pipeline/evaluate';
import { sha256Path, sha256Text } from '../pipeline/provenance';
import { describeStage } from '../pipeline/compress';
import { explain, refusedWrites, writeOptions, writePolicy, WRITE_FLAGS, WRITE_FLAGS_HELP, type WriteOptions } from '../write-policy';
import { measuredValue } from '../../../language-server/core/format/metrics';

const HELP = `usage: qrecipe export RUN --format FORMAT -o FILE [--force] [--runs DIR] [--json-events]
                      [--workspace DIR] [--allow-outside]

Writes the compressed model of a finished run in FORMAT:
  onnx-matmulnbits  com.microsoft.MatMulNBits for quantised MatMul/Gemm layers (2, 4, 8-bit
                    slots; 3-bit codes in 4-bit slots, 5-7-bit in 8-bit), DequantizeLinear for
                    Conv and the layers MatMulNBits cannot take
  onnx-qdq          DequantizeLinear for every quantised layer: int4/uint4 codes up to 4 bits
                    (blocked by the group size; the model raised to opset 21 where that is
                    safe), int8/uint8 above
  onnx-decode       standard ops that rebuild each quantised layer from its packed codes,
                    vector codes and codebooks, and incoherence rotations
  onnx-fakequant    float weights holding the dequantised values
A run with vq or incoherence layers exports only as onnx-decode or onnx-fakequant.
Then checks that onnxruntime loads it and, when the recipe is still there, that its first quality
metric matches the run's fake-quant value within 1%. The file is written into the run's folder
(exports/<k>/) and copied to FILE; a file already at FILE is replaced only with --force.
RUN is a run id, unique prefix, folder or 'latest'.
With --json-events it speaks the runner protocol (artifact, log, metrics, progress of the check,
run-end) and stops on a {"type":"cancel"} line on stdin. FILE must stay inside the workspace (the
current folder unless --workspace says) and must not be the run's model, recipe or anything in the
run store.
${WRITE_FLAGS_HELP}`;

export async function main(args: string[]): Promise<number> {
  return withUsage('export', HELP, async () => {
    const a = parseArgs(args, { flags: ['help', 'json-events', ...WRITE_FLAGS], options: ['format', 'o', 'output', 'runs', 'workspace'], short: { h: 'help', o: 'output' } });
    if (a.flags.has('help')) { console.log(HELP); return 0; }
    if (a.positionals.length !== 1) throw new UsageError('give exactly one run');
    const format = a.options.get('format') as ExportFormat | undefined;
    if (!format || !EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
    const out = a.options.get('output') ?? a.options.get('o');
    if (!out) throw new UsageError('-o FILE is required');
    const json = a.flags.has('json-events');
    const sink = createSink({ json });
    const cancel = listenForCancel({ stdin: json });
    const t0 = Date.now();
    const end = (status: 'succeeded' | 'failed' | 'cancelled', error?: string): void => {
      if (json) sink.emit({ type: 'run-end', status, seconds: (Date.now() - t0) / 1000, ...(error ? { error } : {}) });
    };
    try {
      const failure = await exportRun(a.positionals[0]!, format, out, a.options.get('runs'), sink, cancel.signal, json, writeOptions(a));
      end(failure ? 'failed' : 'succeeded', failure);
      return failure ? 1 : 0;
    } catch (err) {
      if (cancel.signal.aborted) { end('cancelled'); return 130; }
      if (!json) throw err;
      end('failed', err instanceof Error ? err.message : String(err));
      return 1;
    } finally {
      cancel.dispose();
    }
  });
}

/**
 * A big model's run keeps no fake-quant copy, only its codes: the export is rebuilt from the
 * original model (unchanged since the run: same sha256) with the codes' dequantised weights.
 */
async function fromOriginal(record: RunRecord, quant: QuantizedLayer[], own: CompressedLayer[]): Promise<ModelEditor> {
  if (!existsSync(record.modelPath)) throw new Error(`run ${record.id} kept no compressed model, only its codes, and its model ${record.modelPath} is gone`);
  if ((await sha256Path(record.modelPath)) !== record.modelHash) throw new Error(`run ${record.id} kept no compressed model, only its codes, and its model ${record.modelPath} has changed since the run`);
  const coded = new Set([...quant, ...own].map((q) => q.name));
  // norm scales and biases a finetune stage trained live only in the compressed model
  const trained = (record.finetune ?? []).reduce((a, f) => a + f.tensors, 0);
  if (trained) throw new Error(`run ${record.id} kept no compressed model, only its codes, and its finetune stage trained ${trained} norm/bias tensor${trained === 1 ? '' : 's'} that quant.bin does not hold: run the recipe again with the export stage in it`);
  const lost = [...new Set(record.layers.map((l) => l.name))].filter((n) => !coded.has(n));
  if (lost.length) throw new Error(`run ${record.id} kept no compressed model and ${lost.length} of its changed layers (${lost.slice(0, 3).join(', ')}) have no codes to rebuild them from`);
  const editor = new ModelEditor(await loadModel(record.modelPath));
  const layers = new Map(inventoryOf(editor.model).layers.map((l) => [l.name, l]));
  for (const q of quant) {
    const l = layers.get(q.name);
    if (l) await setLayerWeightLazy(editor, l, async () => dequantize(q));
  }
  for (const c of own) {
    const l = layers.get(c.name);
    if (l) await setLayerWeightLazy(editor, l, async () => decodeLayer(c));
  }
  return editor;
}

/** Exports the run; resolves with why the export failed (it is then still recorded), or undefined. */
async function exportRun(
  run: string,
  format: ExportFormat,
  out: string,
  runs: string | undefined,
  sink: EventSink,
  signal: AbortSignal,
  json: boolean,
  write: WriteOptions,
): Promise<string | undefined> {
  const replace = write.force;
  const warn = (w: string): void => { if (json) sink.emit({ type: 'log', level: 'warning', message: w }); else console.error(`warning: ${w}`); };
  const runsRoot = resolveRunsRoot({ runs });
  const { dir, record } = await findRun(runsRoot, run);
  // the run's inputs, its own files and the whole store are never written; elsewhere the workspace rules
  const policy = await writePolicy({ root: write.workspace ?? process.cwd(), runsRoot, inputs: [record.modelPath, record.recipePath] });
  policy.protectedDirs.push(dir);
  const store = storeOutsideWorkspace(runsRoot, write.workspace);
  const refused = [...(store && !write.allowOutside ? [store] : []), ...refusedWrites(out, policy, { ...write, force: true })]; // an existing file: --force, above
  if (refused.length) {
    if (json) sink.emit({ type: 'write-refused', problems: refused.map((p) => ({ kind: p.kind, path: p.target, message: p.message })) });
    throw new Error(refused.map(explain).join('; '));
  }
  // never replace a file silently (checked again, atomically, when the file is copied there)
  const taken = replace ? [] : occupiedByExport(out);
  if (taken.length) throw new Error(`${taken.join(' and ')} exist${taken.length === 1 ? 's' : ''}, nothing was exported: ${FORCE_HINT}`);
  sweepStaleTemps(path.dirname(path.resolve(out)));
  await sweepStore(runsRoot);
  if (record.status !== 'succeeded' || (!record.artifacts.compressedModel && !record.artifacts.quant)) throw new Error(`run ${record.id} is ${record.status}${record.artifacts.compressedModel || record.artifacts.quant ? '' : ' and has no compressed model'}: nothing to export`);
  const stored = record.artifacts.quant ? await readQuantStoreAll(path.join(dir, record.artifacts.quant)) : { layers: [], compressed: [] };
  const quant = stored.layers;
  const own = compressedSourceOf(stored.compressed);
  refuseOwnForms(format, own.metas);
  // a run made before quant.bin kept vector codes and rotated layers (version 3) has only their decode
  const coded = new Set([...quant, ...stored.compressed].map((q) => q.name));
  const lostForms = [...new Set(record.layers.filter((l) => !coded.has(l.name) && isOwnFormMethod(l.method)).map((l) => l.name))];
  if (lostForms.length && format !== 'onnx-fakequant') {
    throw new Error(`run ${record.id} compressed ${lostForms.length} layer${lostForms.length === 1 ? '' : 's'} (${lostForms.slice(0, 3).join(', ')}${lostForms.length > 3 ? ', ...' : ''}) with vector codes or incoherence rotations that its quant.bin does not hold (made by a QRecipe before they were kept): run the recipe again, or export onnx-fakequant`);
  }
  const model = record.artifacts.compressedModel ? path.join(dir, record.artifacts.compressedModel) : await fromOriginal(record, quant, stored.compressed);
  if (!quant.length && !stored.compressed.length && format !== 'onnx-fakequant') warn(`run ${record.id} quantised no layer; the ${format} file holds float weights`);

  // The run's first quality metric, re-measured on the export, with the recipe the run stored.
  let check: ExportCheck | undefined;
  const stages: string[] = [];
  {
    const { analysis } = await checkFile(record.recipePath, undefined, undefined, { text: record.recipeText, imports: record.importTexts ?? {} });
    if (sha256Text(analysis.doc.text) === record.recipeHash) {
      for (const x of analysis.recipe.stages) if (x.kind === 'prune' || x.kind === 'quantize' || x.kind === 'allocate') stages.push(describeStage(x));
      for (const stage of analysis.recipe.stages) {
        if (stage.kind !== 'evaluate' || check) continue;
        const m = stage.metrics.find((x) => x.metric !== 'size' && x.metric !== 'latency' && x.metric !== 'kl' && measuredValue(record.metrics.compressed, x.metric, x.data) !== undefined);
        const d = m && analysis.recipe.datasets.find((x) => x.name === m.data);
        if (!m || !d) continue;
        const onProgress = progressEvents((e) => sink.emit(e), 'export');
        check = {
          spec: m, fakeQuant: measuredValue(record.metrics.compressed, m.metric, m.data)!,
          measure: async (file) => (await evaluateModel({ model: file, metric: m.metric, ...dataSpec(d), signal, onProgress: (p) => onProgress({ ...p, label: `checking the ${m.metric} of the export` }) })).value,
        };
      }
    }
  }
  const warnings: string[] = [];
  let r;
  let failure: string | undefined;
  try {
    r = await exportAndVerify({
      compressedModel: model, quant, compressed: own, format, out, sink, signal,
      warn: (w) => { warnings.push(w); warn(w); }, check, write: { policy, options: write },
      run: { dir, index: record.artifacts.exports.length }, replace, predictedBytes: predictedSize(typeof model === 'string' ? inventoryOf(await loadModel(model)) : inventoryOf(model.model), quant, format, own.metas.map((m) => ({ name: m.name, layout: layoutOfCompressed(m) }))).bytes,
      provenance: { source: record.modelPath, recipe: record.recipePath, run: record.id },
      deploy: {
        sourceModel: record.modelPath,
        provenance: {
          runId: record.id, recipePath: record.recipePath, recipeText: record.recipeText, recipeHash: record.recipeHash,
          modelPath: record.modelPath, modelHash: record.modelHash, qrecipeVersion: record.versions.qrecipe, metrics: record.metrics, stages,
        },
      },
    });
  } catch (err) {
    if (!(err instanceof ExportVerifyError)) throw err;
    r = err.record;
    failure = err.message;
    warn(err.message);
  }
  record.artifacts.exports.push(r);
  if (warnings.length) record.warnings = [...(record.warnings ?? []), ...warnings];
  await writeRecord(dir, record);
  return failure;
}
