/**
 * `export FORMAT "path"`: the resolved export, what the format asks of the quantize/allocate
 * stages, and where the path may write (the write confinement of core/util/confine.ts, as the run
 * will apply it).
 */
import { checkWrite, type WritePolicy } from '../../util/confine';
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

/**
 * Export paths against the write rules (issue 20 #1), while typing: outside the workspace is QR130
 * (a run needs `--allow-outside` or the user's confirmation), over the model, its side files, this
 * recipe or an import, or inside the run store, QR131 (never written). Replacing an existing file is
 * decided by the run, which knows the earlier exports of the workspace.
 */
export function checkExportPaths(c: Checker, m: Merged): void {
  const rules = c.host.writeRules?.(c.file);
  if (!rules) return;
  const policy: WritePolicy = {
    root: rules.root,
    protectedFiles: [...c.docs.keys(), ...(m.model ? [m.model.value] : []), ...(c.result.inventory?.externalFiles ?? [])],
    protectedDirs: [rules.runsRoot],
  };
  for (const s of m.stages) {
    if (s.kind !== 'export' || !s.path) continue;
    for (const p of checkWrite(s.path.value, policy, 'The export')) {
      if (p.kind === 'protected') c.rep(s.path.loc, 'QR131', `${p.message}.`);
      else if (p.kind === 'outside' && !rules.allowOutside) {
        c.rep(s.path.loc, 'QR130', `${p.message}: a run writes there only when you confirm it (VS Code) or pass --allow-outside (CLI). Write it inside the workspace, e.g. "out/${s.path.value.split(/[\\/]/).pop()}".`);
      }
    }
  }
}
