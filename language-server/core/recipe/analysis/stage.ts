/**
 * The stages of a recipe in order: their order rules (QR118), then each kind's own checks
 * (quantize.ts, prune.ts, allocate.ts, finetune.ts, evaluate.ts, export.ts), after what prune, quantize and
 * allocate share: the method's calibration data and the layer selection.
 */
import type { DocStage } from '../lower';
import type { ResolvedStage, SourceRange } from '../resolved';
import { KEYWORD_BY_NAME } from '../schema';
import { checkAllocate } from './allocate';
import { SizeChain, type Checker } from './context';
import { DataRefs } from './datasets';
import { checkEvaluate } from './evaluate';
import { checkFinetune } from './finetune';
import { resolveExport } from './export';
import type { Merged } from './imports';
import { checkPrune } from './prune';
import { checkQuantize } from './quantize';
import { selection, type Selected } from './selection';
import { yieldToLoop } from '../../util/cancel';
import { ANALYSIS_SLICE_MS } from '../../util/limits';
import { DEFAULT_EXPORT_FORMAT, type ExportFormat } from '../../cost/formats';

/** What the check of one prune, quantize or allocate stage works from. */
export interface StageCheck {
  c: Checker;
  m: Merged;
  s: DocStage;
  /** The resolved stage's index and range. */
  base: { index: number; range: SourceRange };
  /** Whether the stage is written in the analysed file (size estimates are shown there only). */
  here: boolean;
  method?: string;
  /** The calibration data set, when the method needs one. */
  data?: string;
  sel: Selected;
  sizes: SizeChain;
  /** The format sizes are counted in: the recipe's first export, else the default. */
  format: ExportFormat;
}

/**
 * Checks every stage of `m` in order and adds the resolved stages to the recipe. Yields to the event
 * loop every few milliseconds, so a recipe with thousands of stages never keeps the language server
 * from answering other requests (a newer edit then aborts this analysis at the next check).
 */
export async function checkStages(c: Checker, m: Merged, refs: DataRefs): Promise<void> {
  const format = (m.stages.find((s) => s.kind === 'export' && s.format)?.format?.value as ExportFormat | undefined) ?? DEFAULT_EXPORT_FORMAT;
  const sizes = new SizeChain(c, format);
  let seenQuant = false;
  let exportAt: DocStage | undefined;
  let slice = performance.now();
  for (const [index, s] of m.stages.entries()) {
    if (performance.now() - slice > ANALYSIS_SLICE_MS) { await yieldToLoop(); slice = performance.now(); }
    c.checkAbort();
    if (exportAt && s.kind !== 'evaluate' && s.kind !== 'export') {
      c.rep(s.keywordLoc, 'QR118',
        `This ${s.kind} stage runs after \`export\` on line ${c.range(exportAt.loc).start.line + 1}: ` +
          'the exported file will not include it. Move the export to the end.');
    }
    if (s.kind === 'prune' && seenQuant) {
      c.rep(s.keywordLoc, 'QR118', 'Pruning after quantization moves weights off the quantization grid: prune first, then quantize.');
    }
    const quantizedBefore = seenQuant;
    if (s.kind === 'quantize' || s.kind === 'allocate') seenQuant = true;
    if (s.kind === 'export') exportAt = s;
    const base = { index, range: c.range(s.loc) };
    let stage: ResolvedStage | undefined;
    if (s.kind === 'export') stage = resolveExport(s, base);
    else if (s.kind === 'evaluate') stage = checkEvaluate(c, s, base, refs);
    else if (s.kind === 'finetune') stage = checkFinetune(c, s, base, calibrationData(c, m, s, 'pv', refs), quantizedBefore);
    else {
      const method = (s.method?.value as string | undefined) ?? (s.kind === 'allocate' ? 'llm-mq' : undefined);
      const data = calibrationData(c, m, s, method, refs);
      const check: StageCheck = { c, m, s, base, here: s.loc.file === c.file, method, data, sel: selection(c, s), sizes, format };
      stage = s.kind === 'quantize' ? checkQuantize(check) : s.kind === 'prune' ? checkPrune(check) : checkAllocate(check);
    }
    if (stage) c.result.recipe.stages.push(stage);
  }
}

/** The calibration data set of a stage whose method needs one (QR113 when there is none; QR114 for one it ignores). */
function calibrationData(c: Checker, m: Merged, s: DocStage, method: string | undefined, refs: DataRefs): string | undefined {
  if (!method) return s.on && refs.ref(s.on) ? s.on.value : undefined; // QR107 already says the method is missing
  const mspec = KEYWORD_BY_NAME.get(s.kind)!.methods?.find((x) => x.name === method);
  if (mspec?.needsData) {
    if (s.on) return refs.ref(s.on) ? s.on.value : undefined;
    if (m.data.length) return m.data[0].name;
    c.rep(s.keywordLoc, 'QR113', `${method} needs calibration data: declare \`data calib { text "calib.txt" }\` ` +
      '(the first data set is used) or write `on NAME`.');
  } else if (s.on) {
    if (refs.ref(s.on)) c.rep(s.on.loc, 'QR114', `${method} uses no calibration data: remove \`on ${s.on.value}\`.`);
  }
  return undefined;
}
