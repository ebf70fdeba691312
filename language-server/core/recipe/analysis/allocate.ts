/**
 * `allocate llm-mq { budget ... }`: LLM-MQ mixed precision. Parameters from the keys written over
 * the defaults (a budget is required, QR107), per-layer pins and candidate lists, and against the
 * model: whether the budget is feasible (the memo's budget diagnostic), group sizes that do not
 * divide a layer (QR204), the size after the stage.
 */
import type { ResolvedOverride, ResolvedStage } from '../resolved';
import { allocateParams, quantDefaults } from './params';
import { overrideSpecs, reportDivisibility, rpat, takeOverrides } from './selection';
import type { StageCheck } from './stage';
import { reportDropped } from './export';

export function checkAllocate({ c, s, base, here, data, sel, sizes, format }: StageCheck): ResolvedStage {
  const budgetVal = s.keys.get('budget');
  if (!budgetVal) {
    c.rep(s.keywordLoc, 'QR107', '`allocate` needs a budget: `budget 3bits` (average width) or `budget 2MiB` (weight memory).');
  }
  // without a budget the recipe is in error; the default width stands in so the rest can be checked
  const params = allocateParams(s.keys, { kind: 'bits', bits: quantDefaults().bits });
  const overrides: ResolvedOverride<{ bits: number; candidates: number[] }>[] = s.overrides.map((o) => ({
    pattern: rpat(c, o.pattern), range: c.range(o.loc),
    params: {
      ...(o.keys.has('bits') ? { bits: o.keys.get('bits')!.value as number } : {}),
      ...(o.keys.has('candidates') ? { candidates: o.keys.get('candidates')!.value as number[] } : {}),
    },
  }));
  let perLayer: Record<string, { candidates: number[] }> | undefined;
  if (c.memo && sel.sel) {
    const [specs, key] = overrideSpecs(s.overrides, overrides);
    const am = c.memo.allocate(sel.sel, params, specs, format, key);
    takeOverrides(c, s, sel.sel, overrides, am);
    perLayer = am.perLayer;
    reportDivisibility(c, s, am.problems, () => s.keys.get('group'), 'group');
    reportDropped(c, s, format, am.dropped, (src) => (src < 0 ? s.keys.get('candidates') : s.overrides[src].keys.get('bits') ?? s.overrides[src].keys.get('candidates')));
    if (budgetVal && am.budget) c.rep(budgetVal.loc, am.budget.code, am.budget.message);
    sizes.apply(am.state);
    if (here && am.params) sizes.snapshot(s.loc.end);
  }
  return { ...base, kind: 'allocate', method: 'llm-mq', data, selection: sel.resolved, params, overrides, perLayer };
}
