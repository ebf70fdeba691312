/**
 * `check` as a library: analyse a recipe file on disk with the real inventory reader and format the
 * diagnostics as `file:line:col: severity code: message` lines or as JSON records.
 */
import path from 'node:path';
import { analyze, type Analysis } from './analyze';
import { fileSystemHost, readRecipeText, recipeFolderRules, type WriteRules } from './host';
import { InventoryCache, type InventoryReader } from './inventory-cache';
import type { Range, Severity } from './diagnostics';

/** One diagnostic as printed by `qrecipe check --json`. */
export interface CheckRecord { code: string; severity: Severity; range: Range; message: string; file: string }

/** A recipe as a run stored it: its text and the texts of the recipes it imports (absolute path → text). */
export interface StoredRecipe { text: string; imports?: Record<string, string> }

/**
 * Analyses the recipe `file`: its text on disk (a regular file, bounded, BOM ignored), or `stored`
 * (a run's copy, analysed as if it were at `file`, its imports from the stored texts). `imports` are
 * the texts of the recipes it imported. `write` says where a run may write (export paths are checked
 * against it, QR130/QR131); by default the recipe's folder and its `.qrecipe/runs`.
 */
export async function checkFile(
  file: string,
  reader?: InventoryReader,
  write?: WriteRules,
  stored?: StoredRecipe,
): Promise<{ analysis: Analysis; records: CheckRecord[]; imports: Record<string, string> }> {
  const abs = path.resolve(file);
  const text = stored ? stored.text : await readRecipeText(abs);
  const rules = write ?? recipeFolderRules(abs);
  const host = fileSystemHost(reader ? new InventoryCache(reader).provider : undefined, () => rules);
  const imports: Record<string, string> = {};
  const read = host.readFile;
  host.readFile = async (p) => {
    const t = stored?.imports?.[p] ?? await read(p);
    if (typeof t === 'string') imports[p] = t;
    return t;
  };
  const analysis = await analyze(abs, text, host);
  const lines = analysis.doc.lines;
  const records = analysis.diagnostics.map((d) => ({ code: d.code, severity: d.severity, range: lines.range(d.start, d.end), message: d.message, file: abs }));
  return { analysis, records, imports };
}

export function formatRecord(r: CheckRecord, shownFile: string): string {
  return `${shownFile}:${r.range.start.line + 1}:${r.range.start.character + 1}: ${r.severity} ${r.code}: ${r.message}`;
}
