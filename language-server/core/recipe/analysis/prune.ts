/**
 * `prune METHOD { ... }`: parameters from the defaults and the keys written (an N:M pattern implies
 * its sparsity, QR114 when both disagree), per-layer overrides, and against the model: which layers
 * take which parameters, N:M widths that do not divide a layer (QR205), the size after the stage.
 */
import type { Val } from '../lower';
import type { PruneParams, ResolvedOverride, ResolvedStage } from '../resolved';
import { applyP, pruneDefaults } from './params';
import { overrideSpecs, reportDivisibility, rpat, takeOverrides } from './selection';
import type { StageCheck } from './stage';

export function checkPrune({ c, s, base, here, method, data, sel, sizes }: StageCheck): ResolvedStage {
  const params: PruneParams = { ...pruneDefaults(), ...applyP(s.keys) };
  if (typeof params.pattern === 'object') {
    const { n, m } = params.pattern;
    const implied = n / m;
    const sv = s.keys.get('sparsity');
    if (sv && Math.abs((sv.value as number) - implied) > 1e-9) {
      const pct = +(implied * 100).toFixed(2);
      c.rep(sv.loc, 'QR114', `Pattern ${n}:${m} means ${pct}% sparsity: remove \`sparsity\` or make it ${pct}%.`);
    }
    params.sparsity = implied;
  }
  const overrides: ResolvedOverride<PruneParams>[] = s.overrides.map((o) => ({
    pattern: rpat(c, o.pattern), params: applyP(o.keys), range: c.range(o.loc),
  }));
  let perLayer: Record<string, PruneParams> | undefined;
  if (c.memo && sel.sel) {
    const pm = c.memo.prune(sel.sel, params, ...overrideSpecs(s.overrides, overrides));
    takeOverrides(c, s, sel.sel, overrides, pm);
    perLayer = pm.perLayer;
    const setBy = (src: number): Val | undefined => (src < 0 ? s.keys : s.overrides[src].keys).get('pattern');
    reportDivisibility(c, s, pm.problems, setBy, 'pattern');
    if (here) sizes.snapshot(s.loc.end, pm.note);
  }
  const resolvedMethod = (method ?? 'magnitude') as 'wanda';
  return { ...base, kind: 'prune', method: resolvedMethod, data, selection: sel.resolved, params, overrides, perLayer };
}
