/** Recipe diagnostics → LSP diagnostics. */
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic, LineIndex } from '../core/recipe/diagnostics';

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information, hint: DiagnosticSeverity.Hint };

export function toLspDiagnostic(d: Diagnostic, lines: LineIndex): LspDiagnostic {
  return { range: lines.range(d.start, d.end), severity: SEVERITY[d.severity], code: d.code, source: 'qrecipe', message: d.message };
}
