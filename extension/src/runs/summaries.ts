// The words a run is summed up in: the finish and export notifications, the Runs view's tooltip,
// the pickers' lines. Human metric names and units from core/format/metrics.ts; no VS Code API
// here, so it is unit-tested.
import path from 'node:path';
import type { ExportRecord, RunRecord, StageKind } from '../../../language-server/core/protocol/runner';
import { formatMetric, formatMetricDelta, glanceMetrics, isBetter, listedKeys, metricInfo, orderedKeys } from '../../../language-server/core/format/metrics';
import { formatBytes, formatSeconds } from '../../../language-server/core/format/numbers';
import { shortTime } from '../../../language-server/core/runs/labels';

/** The run's main quality metric (the first of METRIC_ORDER it measured), if any. */
export function qualityKey(r: RunRecord): string | undefined {
  return orderedKeys(Object.keys(r.metrics.compressed ?? {})).find((k) => metricInfo(k).kind !== 'bytes' && k !== 'bitsPerWeight' && k !== 'latency');
}

/** "perplexity 2.803 (+0.034 vs original)": a metric and its change, when both are known. */
function withChange(r: RunRecord, k: string): string {
  const c = r.metrics.compressed?.[k];
  const o = r.metrics.original?.[k];
  const info = metricInfo(k);
  if (info.kind === 'bytes' && c !== undefined && o) return `${formatMetric(k, c)} (${Math.round((100 * c) / o)} % of the original)`;
  const d = c !== undefined && o !== undefined ? c - o : undefined;
  return `${info.label} ${formatMetric(k, c)}${d !== undefined ? ` (${formatMetricDelta(k, d)} vs original)` : ''}`;
}

/** The finish notification: "quickstart.qrecipe finished in 29 s: perplexity 2.803 (+0.034 vs original), 1.41 MiB (20 % of the original), exported w4.onnx (verified)." */
export function finishMessage(r: RunRecord): string {
  const parts: string[] = [];
  const q = qualityKey(r);
  if (q) parts.push(withChange(r, q));
  if (r.metrics.compressed?.sizeBytes !== undefined) parts.push(withChange(r, 'sizeBytes'));
  const e = r.artifacts.exports.at(-1);
  if (e) parts.push(`exported ${path.basename(e.path)}${e.verified ? ' (loads in onnxruntime)' : ' (DOES NOT LOAD)'}`);
  const took = r.endedAt ? (Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000 : undefined;
  return `${path.basename(r.recipePath)} finished${took !== undefined && Number.isFinite(took) ? ` in ${Math.round(took)} s` : ''}${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

/** The export notification: size, bits per weight, verification and the quality check. */
export function exportMessage(e: ExportRecord): string {
  const parts = [`${formatBytes(e.bytes)}`];
  if (e.bitsPerWeight) parts.push(`${e.bitsPerWeight.toFixed(2)} bits per weight`);
  parts.push(e.verified ? 'loads in onnxruntime' : 'does NOT load in onnxruntime');
  if (e.check) parts.push(`${metricInfo(e.check.metric).label} ${formatMetric(e.check.metric, e.check.exported)}, ${(100 * e.check.relDiff).toFixed(2)} % from the simulated run${e.check.ok ? '' : ' (more than 1 %)'}`);
  return `exported ${path.basename(e.path)} (${e.format}): ${parts.join(', ')}.`;
}

/** The Runs view's tooltip of a run (markdown): label, status, settings, metrics with changes, exports. */
/**
 * Text from a run.json as markdown that shows it literally: the record is data from disk (possibly
 * crafted), so no link, image, emphasis or HTML in it may take effect in the tooltip; one line.
 */
export function mdText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/[\\`*_{}[\]()#!|<>~&]/g, (c) => `\\${c}`)
    .replace(/^([-+])|^(\d+)([.)])/, (_m, sign: string | undefined, n: string | undefined, p: string | undefined) => (sign ? `\\${sign}` : `${n}\\${p}`)); // no list item
}

export function runTooltip(r: RunRecord, label: string): string {
  const t = mdText;
  const lines = [`**${t(label)}** — ${t(r.status)}`, '', `${t(path.basename(r.recipePath))} · started ${t(shortTime(r.startedAt))} · ${t(r.device)} · ${t(r.id)}`];
  if (r.settings) lines.push('', Object.values(r.settings).map((v) => t(String(v))).join(' · '));
  const keys = listedKeys(r.metrics.compressed);
  if (keys.length) {
    lines.push('', '| | original | compressed | change |', '|---|--:|--:|--:|');
    for (const k of keys) {
      const o = r.metrics.original?.[k], c = r.metrics.compressed?.[k];
      const d = o !== undefined && c !== undefined ? c - o : undefined;
      const b = isBetter(k, d);
      // the values are ours (formatted numbers); the metric's name comes from the record
      lines.push(`| ${t(metricInfo(k).label)} | ${formatMetric(k, o)} | ${formatMetric(k, c)} | ${d === undefined ? '' : `${formatMetricDelta(k, d)}${b === undefined ? '' : b ? ' ✓' : ''}`} |`);
    }
  }
  for (const e of r.artifacts.exports) lines.push('', `exported ${t(path.basename(e.path))}: ${t(e.format)}, ${formatBytes(e.bytes)}${e.verified ? ', loads in onnxruntime' : ''}`);
  if (r.error) lines.push('', `**Error:** ${t(r.error)}`);
  return lines.join('\n');
}

/** A run in a quick pick: label, description (metrics at a glance), detail (status, time, id). */
export function pickerLine(r: RunRecord, label: string): { label: string; description: string; detail: string } {
  return {
    label: `${path.basename(r.recipePath, '.qrecipe')} · ${label}`,
    description: r.status === 'succeeded' ? glanceMetrics(r.metrics.compressed) : r.status,
    detail: `${r.status} · ${shortTime(r.startedAt)} · ${r.id}`,
  };
}

/** Where a live run is, as the runner's last events said. */
export interface RunProgress {
  stage?: StageKind;
  stageLabel?: string;
  done?: number;
  total?: number;
  layer?: string;
  etaSeconds?: number;
  runEtaSeconds?: number;
  runEtaAt?: number;
}

/** "quantize 40% (2/5) block 3 · 2 min left in this stage, about 9 min for the run". */
export function progressText(r: RunProgress, now = Date.now()): string {
  if (!r.total) return r.stageLabel ?? 'starting';
  const pct = Math.floor((100 * (r.done ?? 0)) / r.total);
  const stageEta = r.etaSeconds !== undefined ? ` · ${formatSeconds(r.etaSeconds)} left` : '';
  // The run's estimate counts down between events (a block of a big model takes minutes).
  const runLeft = r.runEtaSeconds !== undefined ? Math.max(0, r.runEtaSeconds - (now - (r.runEtaAt ?? now)) / 1000) : undefined;
  const runEta = runLeft !== undefined ? `${stageEta ? ' in this stage,' : ' ·'} about ${formatSeconds(runLeft)} for the run` : '';
  return `${r.stage} ${pct}% (${r.done}/${r.total})${r.layer ? ` ${r.layer}` : ''}${stageEta}${runEta}`;
}
