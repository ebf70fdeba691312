/**
/**
 * `export FORMAT "path"`: the resolved export, what the format asks of the quantize/allocate
 * stages: MatMulNBits group sizes (QR114), widths it stores in wider slots (QR210), and where the
 * path may write (the write confinement of core/util/confine.ts, as the run will apply it).
 */
import { checkWrite, occupiedByExport, type WritePolicy } from '../../util/confine';
import type { DocStage, Loc, Val } from '../lower';
import type { ResolvedStage, SourceRange } from '../resolved';
import { isMatMulNBitsBlock, MATMUL_NBITS_MIN_BLOCK } from '../../../../native/limits';
import { OWN_FORM_FORMATS, ownFormRefusal, type Encoding, type ExportFormat } from '../../cost/formats';
import type { DroppedWidths, WidthProblem } from '../stage-model';
import type { Diagnostic } from '../diagnostics';
import type { Checker } from './context';
import type { Merged } from './imports';

/** How an encoding's slots are called in a message. */
function slots(e: Encoding, stored: number): string {
  if (e === 'matmulnbits') return `${stored}-bit MatMulNBits slots`;
  if (e === 'dequantizelinear') return `int${stored} DequantizeLinear codes`;
  return `${stored}-bit codes (the graph cannot reach opset 21 for int4)`;
}

/** QR210 for quantize widths the export stores in wider slots, at the \`bits\` that set them. */
export function reportWidths(c: Checker, s: DocStage, format: ExportFormat, problems: WidthProblem[], bitsVal: (source: number) => Val | undefined): void {
  for (const p of problems) {
    const v = bitsVal(p.source);
    const at: Loc = v?.loc ?? s.keywordLoc;
    const n = p.count;
    const lower = [2, 4, 8].filter((b) => b < p.bits).pop();
    c.rep(at, 'QR210',
      `${format} stores the ${p.bits}-bit codes of ${n} layer${n > 1 ? 's' : ''} (${p.names}) in ${slots(p.encoding, p.stored)}: ` +
        `the file is as large as at ${p.stored} bits, with the error of ${p.bits}. Use \`bits ${p.stored}\` (same size, more accurate)` +
        `${lower && p.encoding === 'matmulnbits' ? ` or \`bits ${lower}\`` : ''}, or export onnx-fakequant.`,
      v ? [{ title: `Use bits ${p.stored}`, start: v.loc.start, end: v.loc.end, text: String(p.stored) }] : undefined);
  }
}

/** QR210 for allocate candidates the export stores in wider slots (offered as those slots' widths) and such pins. */
export function reportDropped(c: Checker, s: DocStage, format: ExportFormat, dropped: DroppedWidths[], valOf: (source: number) => Val | undefined): void {
  for (const d of dropped) {
    const v = valOf(d.source);
    if (!v) continue; // the default candidates are simply offered as the export's widths
    const n = d.count;
    const layers = `${n} layer${n > 1 ? 's' : ''}`;
    const widths = d.dropped.map((b) => `${b}-bit`).join(' and ');
    const fix = (text: string, title: string): Diagnostic['fixes'] => (v ? [{ title, start: v.loc.start, end: v.loc.end, text }] : undefined);
    if (d.pinned) {
      c.rep(v?.loc ?? s.keywordLoc, 'QR210',
        `${format} stores the pinned ${widths} codes of ${layers} in ${slots(d.encoding, d.offered[0]!)}: the file is as large as at ` +
          `${d.offered[0]} bits, with the error of ${d.dropped[0]}. Pin \`bits ${d.offered[0]}\` (same size, more accurate).`,
        fix(String(d.offered[0]), `Pin bits ${d.offered[0]}`));
      continue;
    }
    c.rep(v?.loc ?? s.keywordLoc, 'QR210',
      `${format} stores ${widths} codes of ${layers} in ${d.encoding === 'matmulnbits' ? 'wider MatMulNBits slots' : 'wider codes'}, ` +
        `at the size of the wider width: the allocator is offered ${d.offered.join(' ')} instead (same sizes, less error).`,
      fix(d.offered.join(' '), `Use candidates ${d.offered.join(' ')}`));
  }
}

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

/** QR122: `quantize vq` or `incoherence hadamard` exported in a format that cannot hold them (the run would fail at the export). */
export function checkExportForms(c: Checker, m: Merged): void {
  const own = m.stages.find((s) => s.kind === 'quantize' && (s.method?.value === 'vq' || s.keys.get('incoherence')?.value === 'hadamard'));
  if (!own) return;
  for (const s of m.stages) {
    const f = s.kind === 'export' ? s.format : undefined;
    if (!f || (OWN_FORM_FORMATS as readonly string[]).includes(f.value as string)) continue;
    c.rep(f.loc, 'QR122', ownFormRefusal(f.value as string, own.method?.value === 'vq'),
      [{ title: 'Change to onnx-decode', start: f.loc.start, end: f.loc.end, text: 'onnx-decode' }]);
  }
}

/**
 * Export paths against the write rules (issue 20 #1), while typing: outside the workspace is QR130
 * (a run needs `--allow-outside` or the user's confirmation), over the model, its side files, this
 * recipe or an import, or inside the run store, QR131 (never written). A file already at the path
 * (or its `.data` side file) is warned of with the run's own QR401 (the files the run would find:
 * `occupiedByExport`): the run stops there unless given --force, VS Code asks first.
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
    const problems = checkWrite(s.path.value, policy, 'The export');
    for (const p of problems) {
      if (p.kind === 'protected') c.rep(s.path.loc, 'QR131', `${p.message}.`);
      else if (p.kind === 'outside' && !rules.allowOutside) {
        c.rep(s.path.loc, 'QR130', `${p.message}: a run writes there only when you confirm it (VS Code) or pass --allow-outside (CLI). Write it inside the workspace, e.g. "out/${s.path.value.split(/[\\/]/).pop()}".`);
      }
    }
    if (problems.some((p) => p.kind === 'protected')) continue;
    const taken = occupiedByExport(s.path.value);
    if (taken.length) {
      const it = taken.length === 1 ? 'it' : 'them';
      c.rep(s.path.loc, 'QR401', `${taken.join(' and ')} exist${taken.length === 1 ? 's' : ''} already: a run will ask before replacing ${it} (VS Code) or stop before any compute unless given --force (CLI); runs that wrote ${it} keep their own copies in their run folders.`);
    }
  }
}
