// What the Compare view shows, computed from run records (no VS Code API here, so it is unit-tested).
import path from 'node:path';
import { compareRuns } from '../../../language-server/core/runs/compare';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import type { CompareData } from '../../../webviews/protocol';

/** The primary quality metric of a run, lower- or higher-is-better. */
function quality(r: RunRecord): { name: string; value: number; lowerIsBetter: boolean } | undefined {
  const m = r.metrics.compressed ?? {};
  if (m.perplexity !== undefined) return { name: 'perplexity', value: m.perplexity, lowerIsBetter: true };
  if (m.accuracy !== undefined) return { name: 'accuracy', value: m.accuracy, lowerIsBetter: false };
  if (m.cer !== undefined) return { name: 'cer', value: m.cer, lowerIsBetter: true };
  if (m.kl !== undefined) return { name: 'kl', value: m.kl, lowerIsBetter: true };
  return undefined;
}

export function compareData(runs: RunRecord[]): CompareData {
  const points: CompareData['points'] = [];
  for (const r of runs) {
    const q = quality(r);
    const bytes = r.metrics.compressed?.sizeBytes ?? r.artifacts.exports[0]?.bytes;
    if (q && bytes !== undefined) points.push({ runId: r.id, label: path.basename(r.recipePath, '.qrecipe'), bytes, quality: q.value, qualityName: q.name, lowerIsBetter: q.lowerIsBetter });
  }
  const orig = runs.find((r) => r.metrics.original)?.metrics.original;
  const oq = orig && quality({ ...runs[0], metrics: { compressed: orig } });
  if (orig && oq && orig.sizeBytes !== undefined) points.push({ runId: 'original', label: 'original', bytes: orig.sizeBytes, quality: oq.value, qualityName: oq.name, lowerIsBetter: oq.lowerIsBetter });
  return { comparison: compareRuns(runs), points };
}
