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

/**
 * Checks a recipe file. `write` says where a run may write (export paths are checked against it,
 * QR130/QR131); by default the recipe's folder and its `.qrecipe/runs`.
 */
export async function checkFile(file: string, reader?: InventoryReader, write?: WriteRules): Promise<{ analysis: Analysis; records: CheckRecord[] }> {
  const abs = path.resolve(file);
  const text = await readRecipeText(abs);
  const rules = write ?? recipeFolderRules(abs);
  const host = fileSystemHost(reader ? new InventoryCache(reader).provider : undefined, () => rules);
  const analysis = await analyze(abs, text, host);
  const lines = analysis.doc.lines;
  const records = analysis.diagnostics.map((d) => ({ code: d.code, severity: d.severity, range: lines.range(d.start, d.end), message: d.message, file: abs }));
  return { analysis, records };
}

export function formatRecord(r: CheckRecord, shownFile: string): string {
  return `${shownFile}:${r.range.start.line + 1}:${r.range.start.character + 1}: ${r.severity} ${r.code}: ${r.message}`;
}
