/** Quick fixes from the `fixes` that diagnostics carry (did-you-mean, nearest group, drop a pattern ...). */
import { CodeActionKind, type CodeAction, type Diagnostic as LspDiagnostic, type Range } from 'vscode-languageserver';
import type { Analysis } from '../core/recipe/analyze';
import { toLspDiagnostic } from './convert';

export function codeActions(uri: string, a: Analysis, range: Range): CodeAction[] {
  const lines = a.doc.lines;
  const lo = lines.offset(range.start), hi = lines.offset(range.end);
  const out: CodeAction[] = [];
  for (const d of a.diagnostics) {
    if (!d.fixes || d.file || d.end < lo || d.start > hi) continue;
    const lsp: LspDiagnostic = toLspDiagnostic(d, lines);
    d.fixes.forEach((f, i) => out.push({
      title: f.title, kind: CodeActionKind.QuickFix, diagnostics: [lsp], isPreferred: i === 0,
      edit: { changes: { [uri]: [{ range: lines.range(f.start, f.end), newText: f.text }] } },
    }));
  }
  return out;
}
