// What the Compare view shows, computed from run records (no VS Code API here, so it is unit-tested):
// the comparison, a label per run from what differs between them, and the size-vs-quality points
// (one quality metric for all: the first run's main one).
import { compareRuns } from '../../../language-server/core/runs/compare';
import { runLabels } from '../../../language-server/core/runs/labels';
import { metricInfo } from '../../../language-server/core/format/metrics';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import type { CompareData } from '../../../webviews/protocol';
import { qualityKey } from '../runs/summaries';

export function compareData(runs: RunRecord[]): CompareData {
  const labelOf = runLabels(runs, { withRecipe: new Set(runs.map((r) => r.recipePath)).size > 1 });
  const labels = runs.map((r) => labelOf.get(r.id)!);
  const key = runs.map(qualityKey).find((k) => k !== undefined);
  const points: CompareData['points'] = [];
  if (key) {
    const lowerIsBetter = metricInfo(key).lowerIsBetter;
    runs.forEach((r, i) => {
      const q = r.metrics.compressed?.[key];
      const bytes = r.metrics.compressed?.sizeBytes ?? r.artifacts.exports[0]?.bytes;
      if (q !== undefined && bytes !== undefined) points.push({ runId: r.id, label: labels[i]!, bytes, quality: q, qualityKey: key, lowerIsBetter });
    });
    const orig = runs.find((r) => r.metrics.original?.[key] !== undefined && r.metrics.original.sizeBytes !== undefined)?.metrics.original;
    if (orig) points.push({ runId: 'original', label: 'original', bytes: orig.sizeBytes!, quality: orig[key]!, qualityKey: key, lowerIsBetter });
  }
  return { comparison: compareRuns(runs), labels, points };
}
