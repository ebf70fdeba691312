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
