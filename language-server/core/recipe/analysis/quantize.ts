/**
 * `quantize METHOD { ... }`: parameters from the defaults, a preset (built-in or the recipe's own)
 * and the keys written, per-layer overrides, and against the model: which layers take which
 * parameters, group sizes that do not divide a layer (QR204), the size after the stage.
 */
import { didYouMean } from '../diagnostics';
import type { DocNamed, Val } from '../lower';
import type { Merged } from './imports';
import type { QuantParams, ResolvedOverride, ResolvedStage } from '../resolved';
import { BUILTIN_PRESETS } from '../schema';
import { applyQ, quantDefaults } from './params';
import { overrideSpecs, reportDivisibility, rpat, takeOverrides } from './selection';
import type { StageCheck } from './stage';
import { reportWidths } from './export';

export function checkQuantize({ c, m, s, base, here, method, data, sel, sizes, format }: StageCheck): ResolvedStage {
  let params: QuantParams = { ...quantDefaults() };
  // the values that set the stage's group size and width, where a problem with them is reported
  let stageGroupVal: Val | undefined = s.keys.get('group');
  let stageBitsVal: Val | undefined = s.keys.get('bits');
  const pv = s.keys.get('preset');
  if (pv) {
    const name = pv.value as string;
    const builtin = BUILTIN_PRESETS[name];
    const user = presetsByName(m).get(name);
    if (builtin) params = { ...params, bits: builtin.bits, group: builtin.group, symmetric: builtin.symmetric };
    else if (user) {
      params = applyQ(params, user.keys);
      if (!stageGroupVal) stageGroupVal = user.keys.get('group');
      if (!stageBitsVal) stageBitsVal = user.keys.get('bits');
      c.refer(pv as Val<string>, c.range(user.nameLoc));
    } else {
      const all = [...Object.keys(BUILTIN_PRESETS), ...m.presets.map((p) => p.name)];
      const dm = didYouMean(name, all);
      c.rep(pv.loc, 'QR112', `No preset named \`${name}\`${dm ? `: did you mean \`${dm}\`?` : `. Presets: ${all.join(', ')}.`}`,
        dm ? [{ title: `Change to ${dm}`, start: pv.loc.start, end: pv.loc.end, text: dm }] : undefined);
    }
  }
  params = applyQ(params, s.keys);
  const overrides: ResolvedOverride<QuantParams>[] = s.overrides.map((o) => ({
    pattern: rpat(c, o.pattern), params: applyQ({}, o.keys), range: c.range(o.loc),
  }));
  let perLayer: Record<string, QuantParams> | undefined;
  if (c.memo && sel.sel) {
    const [specs, key] = overrideSpecs(s.overrides, overrides);
    const qm = c.memo.quantize(sel.sel, params, specs, format, key);
    takeOverrides(c, s, sel.sel, overrides, qm);
    perLayer = qm.perLayer;
    reportDivisibility(c, s, qm.problems, (src) => (src < 0 ? stageGroupVal : s.overrides[src].keys.get('group')), 'group');
    reportWidths(c, s, format, qm.widths, (src) => (src < 0 ? stageBitsVal : s.overrides[src].keys.get('bits')));
    sizes.apply(qm.state);
    if (here) sizes.snapshot(s.loc.end);
  }
  const resolvedMethod = (method ?? 'rtn') as 'rtn';
  return { ...base, kind: 'quantize', method: resolvedMethod, data, selection: sel.resolved, params, overrides, perLayer };
}

const presetMaps = new WeakMap<DocNamed[], Map<string, DocNamed>>();
/** The recipe's presets by name (first wins), built once per analysis. */
function presetsByName(m: Merged): Map<string, DocNamed> {
  let map = presetMaps.get(m.presets);
  if (!map) {
    map = new Map();
    for (const p of m.presets) if (!map.has(p.name)) map.set(p.name, p);
    presetMaps.set(m.presets, map);
  }
  return map;
}
