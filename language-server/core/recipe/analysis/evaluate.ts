/** `evaluate { metric on DATA ... }`: each metric's data set must be of a kind the metric reads (QR119). */
import type { DocStage } from '../lower';
import type { MetricName, ResolvedStage, SourceRange } from '../resolved';
import type { Checker } from './context';
import type { DataRefs } from './datasets';

/** The data set kinds each data-reading metric needs (others take any, or none). */
const NEEDS: Partial<Record<MetricName, string[]>> = { perplexity: ['text'], accuracy: ['images', 'idx'], cer: ['ocr'] };

export function checkEvaluate(
  c: Checker, s: DocStage, base: { index: number; range: SourceRange }, refs: DataRefs,
): ResolvedStage {
  const metrics: { metric: MetricName; data?: string; range: SourceRange }[] = [];
  for (const mt of s.metrics) {
    if (mt.on && refs.ref(mt.on)) {
      const k = refs.kind(mt.on.value);
      const w = NEEDS[mt.metric];
      if (w && k && !w.includes(k)) {
        c.rep(mt.on.loc, 'QR119', `\`${mt.metric}\` needs a ${w.join(' or ')} data set; \`${mt.on.value}\` reads ${k}.`);
      }
    }
    metrics.push({ metric: mt.metric, data: mt.on?.value, range: c.range(mt.loc) });
  }
  return { ...base, kind: 'evaluate', metrics };
}
