/** `export FORMAT "path"`: the resolved export, and what the format asks of the quantize/allocate stages. */
import type { DocStage } from '../lower';
import type { ResolvedStage, SourceRange } from '../resolved';
import { isMatMulNBitsBlock, MATMUL_NBITS_MIN_BLOCK } from '../../../../native/limits';
import type { Checker } from './context';
import type { Merged } from './imports';

/** The export stage as the runner takes it (none while its format or path is missing). */
export function resolveExport(s: DocStage, base: { index: number; range: SourceRange }): ResolvedStage | undefined {
  if (!s.format || !s.path) return undefined;
  return { ...base, kind: 'export', format: s.format.value as 'onnx-qdq', path: s.path.value };
}

/** MatMulNBits stores blocks of a power-of-two size ≥ 16: every group size written must be one (QR114). */
export function checkExportGroups(c: Checker, m: Merged): void {
  if (!m.stages.some((s) => s.kind === 'export' && s.format?.value === 'onnx-matmulnbits')) return;
  for (const s of m.stages) {
    if (s.kind !== 'quantize' && s.kind !== 'allocate') continue;
    for (const g of [s.keys.get('group'), ...s.overrides.map((o) => o.keys.get('group'))]) {
      const v = g?.value;
      if (g && typeof v === 'number' && !isMatMulNBitsBlock(v)) {
        c.rep(g.loc, 'QR114', `onnx-matmulnbits needs a group size that is a power of two ≥ ${MATMUL_NBITS_MIN_BLOCK}, ` +
          `not ${v}: use 16, 32, 64 or 128, or export onnx-qdq.`);
      }
    }
  }
}

/** Formats that store vector codes and incoherence rotations (onnx-fakequant stores their decode). */
const OWN_FORM_FORMATS = new Set(['onnx-decode', 'onnx-fakequant']);

/** QR122: `quantize vq` or `incoherence hadamard` exported in a format that cannot hold them (the run would fail at the export). */
export function checkExportForms(c: Checker, m: Merged): void {
  const own = m.stages.find((s) => s.kind === 'quantize' && (s.method?.value === 'vq' || s.keys.get('incoherence')?.value === 'hadamard'));
  if (!own) return;
  for (const s of m.stages) {
    const f = s.kind === 'export' ? s.format : undefined;
    if (!f || OWN_FORM_FORMATS.has(f.value as string)) continue;
    const what = own.method?.value === 'vq' ? 'vector codes (quantize vq)' : 'incoherence rotations';
    c.rep(f.loc, 'QR122', `${f.value as string} cannot store ${what}: export onnx-decode (standard ops that rebuild the weights) or onnx-fakequant.`,
      [{ title: 'Change to onnx-decode', start: f.loc.start, end: f.loc.end, text: 'onnx-decode' }]);
  }
}
