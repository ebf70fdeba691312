/** Inlay hints: estimated model size and average bits per weight after each stage. */
import { InlayHintKind, type InlayHint, type Range } from 'vscode-languageserver';
import type { Analysis } from '../core/recipe/analyze';
import { formatBytes } from '../core/util/format';

export function inlayHints(a: Analysis, range: Range): InlayHint[] {
  const lines = a.doc.lines;
  const lo = lines.offset(range.start), hi = lines.offset(range.end);
  return a.estimates.filter((e) => e.offset >= lo && e.offset <= hi).map((e) => ({
    position: lines.position(e.offset),
    label: `≈ ${formatBytes(e.bytes)}${e.bitsPerWeight !== undefined ? `, ${e.bitsPerWeight.toFixed(2)} bits/weight` : ''}${e.note ? `, ${e.note}` : ''}`,
    kind: InlayHintKind.Type, paddingLeft: true,
    tooltip: `Estimated size of the model file after this stage as ${e.format} (the recipe's export, else the default), and bits per ` +
      'weight of its quantised layers (codes, scales, zero points, outliers and padding): the numbers the run and its export report.',
  }));
}
