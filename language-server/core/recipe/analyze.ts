/**
 * Semantic analysis of a recipe: parse → lower → imports merged → names, files, combinations →
 * model-aware checks against the layer inventory → the resolved recipe. Never throws (a bug in a
 * check becomes an internal diagnostic rather than a crash). The checks live in analysis/: imports,
 * data sets, the layer selection, and one file per stage kind.
 */
import path from 'node:path';

import type { ModelInventory } from '../model/types';
import { Checker } from './analysis/context';
import { checkDatasets, checkTokenizerVocab, DataRefs } from './analysis/datasets';
import { checkExportForms, checkExportGroups, checkExportPaths } from './analysis/export';
import { loadRecipe } from './analysis/imports';
import { checkStages } from './analysis/stage';
import type { Analysis } from './analysis/types';
import { diag } from './diagnostics';
import type { AnalysisHost } from './host';
import { lowerSteps } from './lower';
import { parseSteps } from './parser';
import type { ResolvedStage } from './resolved';
import { modelMemo } from './stage-model';
import { drainSliced } from '../util/cancel';
import { ANALYSIS_SLICE_MS } from '../util/limits';

export type { Analysis, PatternInfo, Reference, StageEstimate } from './analysis/types';
export type { ResolvedStage };

/**
 * Analyses `text` as the recipe `file`. `previous`, an analysis of an earlier version of the same
 * file, lets the parse take over the items an edit did not touch; the result is the same without it.
 */
export async function analyze(
  file: string, text: string, host: AnalysisHost, signal?: AbortSignal, previous?: Analysis,
): Promise<Analysis> {
  const absFile = path.resolve(file);
  // in slices: a large recipe never keeps the language server from answering other requests, and
  // a newer edit aborts this analysis between two slices
  const parsed = await drainSliced(parseSteps(text, previous?.file === absFile ? previous.parse : undefined), ANALYSIS_SLICE_MS, signal);
  const doc = await drainSliced(lowerSteps(absFile, text, parsed.tree), ANALYSIS_SLICE_MS, signal);
  const result: Analysis = {
    file: absFile, parse: parsed, doc, diagnostics: [...parsed.errors, ...doc.diagnostics],
    patterns: [], references: [], estimates: [], datasets: [], presets: [], imports: [],
    recipe: { file: absFile, datasets: [], stages: [] },
  };
  const c = new Checker(result, host, signal);
  try {
    await run(c, text);
  } catch (e) {
    if (signal?.aborted) throw e;
    const message = `Internal error in the analysis (please report): ${e instanceof Error ? e.message : String(e)}`;
    result.diagnostics.push(diag('QR199', 0, 0, message));
  }
  result.imports = [...c.docs.keys()].filter((f) => f !== absFile);
  result.diagnostics.sort((a, b) => a.start - b.start || a.end - b.end);
  return result;
}

async function run(c: Checker, text: string): Promise<void> {
  const { result, host } = c;
  const m = await loadRecipe(c);
  c.checkAbort();
  result.datasets = m.data.map((d) => d.name);
  result.presets = m.presets.map((p) => p.name);
  if (!m.model) {
    const firstLine = Math.max(1, text.search(/\r|\n|$/));
    const message = 'The recipe names no model: add `model "path/to/model.onnx"`.';
    result.diagnostics.push(diag('QR113', 0, Math.min(firstLine, text.length), message));
  }

  // files: the model, then each data set's (awaited together below)
  c.mustExist(m.model, 'Model file');
  let modelExists = false;
  if (m.model) {
    const mv = m.model;
    c.fileChecks.push(host.exists(mv.value).then((ok) => { modelExists = ok; }));
    result.recipe.model = { path: mv.value, range: c.range(mv.loc) };
  }
  checkDatasets(c, m);
  const refs = new DataRefs(c, m);
  await Promise.all(c.fileChecks);
  c.checkAbort();

  let inv: ModelInventory | undefined;
  if (m.model && modelExists && host.inventory) {
    const r = await host.inventory(m.model.value);
    c.checkAbort();
    if (r instanceof Error) c.rep(m.model.loc, 'QR207', `Cannot read the model's layers (${r.message}); model-aware checks are off.`);
    else inv = r;
  }
  result.inventory = inv;
  c.layers = inv?.layers ?? [];
  if (inv) checkTokenizerVocab(c, inv);
  // model-aware results of unchanged stages come from here (see stage-model.ts)
  c.memo = inv ? modelMemo(inv) : undefined;

  await checkStages(c, m, refs);
  checkExportGroups(c, m);
  checkExportForms(c, m);
  checkExportPaths(c, m);
}
