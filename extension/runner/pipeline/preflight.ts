// Everything checked before any compute: the language's analysis of the recipe (the same
// diagnostics as the editor and `qrecipe check`), a readable model with an inventory, non-empty
// layer selections and a loadable native addon. Problems are returned located at file:line:col.
import { checkFile, type StoredRecipe } from '../../../language-server/core/recipe/check';
import type { WriteRules } from '../../../language-server/core/recipe/host';
import type { Analysis } from '../../../language-server/core/recipe/analyze';
import { readInventory } from '../../../language-server/core/model/inventory';
import type { ResolvedRecipe } from '../../../language-server/core/recipe/resolved';
import * as native from '../../../native/index';
import { EXPORT_EXISTS_CODE } from '../../../language-server/core/protocol/runner';

export interface Problem {
  severity: 'error' | 'warning';
  message: string;
  file?: string;
  /** One-based, as printed. */
  line?: number;
  column?: number;
  code?: string;
}

export interface Preflight {
  text: string;
  /** Texts of the imported recipes (absolute path → text), as analysed. */
  imports: Record<string, string>;
  analysis?: Analysis;
  recipe?: ResolvedRecipe;
  problems: Problem[];
}

export function formatProblem(p: Problem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}:${p.column ?? 1}` : ''}: ` : '';
  return `${where}${p.severity}${p.code ? ` ${p.code}` : ''}: ${p.message}`;
}

/**
 * Checks the recipe `file`, or a run's stored copy of it (see checkFile). `write`: where the run may
 * write (export paths are checked, QR130/QR131); default the recipe's folder.
 */
export async function preflight(file: string, write?: WriteRules, stored?: StoredRecipe): Promise<Preflight> {
  let result: Awaited<ReturnType<typeof checkFile>>;
  try {
    result = await checkFile(file, (p) => readInventory(p), write, stored);
  } catch (err) {
    return { text: '', imports: {}, problems: [{ severity: 'error', file, message: `cannot read the recipe (${(err as Error).message})` }] };
  }
  const { analysis, records, imports } = result;
  // QR401 (a file at an export path) is the run's own decision, made right after with its --force:
  // an error that stops the run, or nothing; the checker's warning of it is not repeated here
  const problems: Problem[] = records
    .filter((r) => (r.severity === 'error' || r.severity === 'warning') && r.code !== EXPORT_EXISTS_CODE)
    .map((r) => ({ severity: r.severity as 'error' | 'warning', code: r.code, message: r.message, file: r.file, line: r.range.start.line + 1, column: r.range.start.character + 1 }));
  const recipe = analysis.recipe;
  const at = (range: { file: string; start: { line: number; character: number } } | undefined): Pick<Problem, 'file' | 'line' | 'column'> =>
    range ? { file: range.file, line: range.start.line + 1, column: range.start.character + 1 } : { file: analysis.file };
  if (!problems.some((p) => p.severity === 'error')) {
    if (!recipe.model) problems.push({ severity: 'error', ...at(undefined), message: 'the recipe names no model' });
    else if (!analysis.inventory) {
      const why = records.find((r) => r.code === 'QR207')?.message.replace(/^Cannot read the model's layers \((.*)\); model-aware checks are off\.$/s, '$1');
      problems.push({ severity: 'error', ...at(recipe.model.range), message: `the model ${recipe.model.path} cannot be read, so the recipe cannot run${why ? ` (${why})` : ''}` });
    }
    for (const s of recipe.stages) {
      if ((s.kind === 'prune' || s.kind === 'quantize' || s.kind === 'allocate') && analysis.inventory && !s.selection.layers?.length) {
        problems.push({ severity: 'error', ...at(s.range), message: `the ${s.kind} stage selects no layer of the model` });
      }
    }
    const computes = recipe.stages.some((s) => s.kind === 'prune' || s.kind === 'quantize' || s.kind === 'allocate');
    if (computes && !native.isAvailable()) {
      try { native.backendInfo(); } catch (err) { problems.push({ severity: 'error', message: (err as Error).message }); }
    }
  }
  return { text: analysis.doc.text, imports, analysis, recipe, problems };
}
