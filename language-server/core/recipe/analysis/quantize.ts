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
import { applyQ, quantDefaults, vqParams } from './params';
import type { DocStage } from '../lower';
import type { LayerInfo } from '../../model/types';
import type { Checker } from './context';
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
  if (method === 'vq') params = vqStage(c, s, params);
  const overrides: ResolvedOverride<QuantParams>[] = s.overrides.map((o) => ({
    pattern: rpat(c, o.pattern), params: applyQ({}, o.keys), range: c.range(o.loc),
  }));
  let perLayer: Record<string, QuantParams> | undefined;
  if (c.memo && sel.sel) {
    const [specs, key] = overrideSpecs(s.overrides, overrides);
    const qm = c.memo.quantize(sel.sel, params, specs, format, key);
    takeOverrides(c, s, sel.sel, overrides, qm);
    perLayer = qm.perLayer;
    if (method !== 'vq') {
      reportDivisibility(c, s, qm.problems, (src) => (src < 0 ? stageGroupVal : s.overrides[src].keys.get('group')), 'group');
      reportWidths(c, s, format, qm.widths, (src) => (src < 0 ? stageBitsVal : s.overrides[src].keys.get('bits')));
    } else if (params.vq) vqDivisibility(c, s, params.vq.dim, sel.sel.selected);
    sizes.apply(qm.state);
    if (here) sizes.snapshot(s.loc.end);
  }
  const resolvedMethod = (method ?? 'rtn') as 'rtn' | 'vq';
  return { ...base, kind: 'quantize', method: resolvedMethod, data, selection: sel.resolved, params, overrides, perLayer };
}

/** Keys of the scalar grid, which `vq` does not use (its width is codebooks·codebits/dim). */
const SCALAR_ONLY = ['bits', 'group', 'scheme', 'outliers', 'preset'];

/**
 * A `quantize vq` stage's parameters: the codebook shape, `bits` = codebooks·codebits/dim (the code
 * bits per weight), one row scale per output channel; keys of the scalar grid are reported (QR114).
 */
function vqStage(c: Checker, s: DocStage, params: QuantParams): QuantParams {
  for (const k of SCALAR_ONLY) {
    const v = s.keys.get(k);
    if (v) c.rep(v.entry, 'QR114', `\`${k}\` does not apply to vq: its width is codebooks·codebits/dim bits per weight (write \`dim\`, \`codebooks\`, \`codebits\`).`);
  }
  for (const o of s.overrides) if (o.keys.size) c.rep(o.loc, 'QR114', 'vq takes one codebook shape per stage: overrides do not apply (write a second `quantize vq` stage for other layers).');
  const vq = vqParams(s.keys);
  return { ...params, bits: (vq.codebooks * vq.codebits) / vq.dim, group: 'channel', symmetric: false, outliers: 0, vq };
}

/** QR204 where `dim` does not divide a selected layer's input dimension (first three named). */
function vqDivisibility(c: Checker, s: DocStage, dim: number, layers: readonly LayerInfo[]): void {
  const bad = layers.filter((l) => l.cols % dim !== 0);
  if (!bad.length) return;
  const at = s.keys.get('dim')?.loc ?? s.keywordLoc;
  c.rep(at, 'QR204', `\`dim ${dim}\` does not divide the input dimension of ${bad.length} selected layer${bad.length === 1 ? '' : 's'} ` +
    `(${bad.slice(0, 3).map((l) => `${l.name}: ${l.cols}`).join(', ')}${bad.length > 3 ? ', ...' : ''}): choose a divisor, or ignore those layers.`);
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
