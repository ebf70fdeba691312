// A run's own page, as markdown (shown read-only in VS Code's markdown preview): what it did, its
// results with human metric names, units and changes against the original, its exports and their
// verification, settings, stage times, per-layer results, warnings and versions. No VS Code API
// here, so the page is unit-tested.
import path from 'node:path';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { formatMetric, formatMetricDelta, isBetter, metricInfo, orderedKeys } from '../../../language-server/core/format/metrics';
import { formatBytes, formatNumber, formatSeconds } from '../../../language-server/core/format/numbers';
import { shortTime } from '../../../language-server/core/runs/labels';
import { exportState } from '../../../language-server/core/runs/exports';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function seconds(r: RunRecord): number | undefined {
  const a = Date.parse(r.startedAt), b = r.endedAt ? Date.parse(r.endedAt) : NaN;
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 1000 : undefined;
}

/** The file now at a path (size, modification time), or undefined: how a page tells replaced exports. */
export type StatOf = (file: string) => { size: number; mtimeMs: number } | undefined;

export function runPage(r: RunRecord, dir: string, label: string, statOf?: StatOf): string {
  const out: string[] = [];
  const took = seconds(r);
  out.push(`# ${path.basename(r.recipePath, '.qrecipe')} · ${label}`, '');
  out.push(`**${r.status}**${took !== undefined ? ` in ${formatSeconds(took)}` : ''} on ${r.device} · started ${shortTime(r.startedAt)} · run \`${r.id}\``, '');
  if (r.error) out.push(`> **Error:** ${r.error}`, '');

  const m = r.metrics;
  const keys = orderedKeys([...Object.keys(m.original ?? {}), ...Object.keys(m.compressed ?? {}), ...Object.keys(m.exported ?? {})]);
  if (keys.length) {
    out.push('## Results', '');
    out.push(`| metric | original | compressed | change |${m.exported ? ' exported file |' : ''}`, `|---|--:|--:|--:|${m.exported ? '--:|' : ''}`);
    for (const k of keys) {
      const o = m.original?.[k], c = m.compressed?.[k];
      const d = o !== undefined && c !== undefined ? c - o : undefined;
      const better = isBetter(k, d);
      const change = d === undefined ? '' : `${formatMetricDelta(k, d)}${better === undefined ? '' : better ? ' (better)' : ' (worse)'}`;
      const info = metricInfo(k);
      out.push(`| ${cell(info.label)}${info.unit && info.kind === 'number' ? ` (${info.unit})` : ''} | ${formatMetric(k, o)} | ${formatMetric(k, c)} | ${change} |${m.exported ? ` ${formatMetric(k, m.exported[k])} |` : ''}`);
    }
    out.push('', `*${keys.map((k) => `${metricInfo(k).label}: ${metricInfo(k).help}`).join('. ')}.*`, '');
  }

  if (r.artifacts.exports.length) {
    out.push('## Exported models', '', '| file | format | size | bits per weight | loads in onnxruntime | quality check |', '|---|---|--:|--:|---|---|');
    for (const e of r.artifacts.exports) {
      const c = e.check;
      const check = c ? `${metricInfo(c.metric).label} ${formatMetric(c.metric, c.exported)} vs ${formatMetric(c.metric, c.fakeQuant)} simulated `
        + `(${(100 * c.relDiff).toFixed(2)} %) ${c.ok ? '✓' : '✗ more than 1 %'}` : '—';
      out.push(`| \`${cell(e.path)}\` | ${e.format} | ${formatBytes(e.bytes)} | ${e.bitsPerWeight !== undefined ? e.bitsPerWeight.toFixed(2) : '—'} | ${e.verified ? 'yes' : 'no'} | ${cell(check)} |`);
    }
    // exports whose path now holds another file (a later run's, say): this run still has its own
    for (const e of r.artifacts.exports) {
      const state = statOf ? exportState(e, statOf(e.path)) : 'current';
      if (state === 'current' || !e.runCopy) continue;
      out.push(`> \`${cell(e.path)}\` ${state === 'missing' ? 'is gone' : 'has been replaced since'}; this run's export is \`${cell(path.join(dir, e.runCopy))}\`${e.sha256 ? ` (sha256 ${e.sha256.slice(0, 16)}…)` : ''}.`, '');
    }
    out.push('');
  }

  if (r.settings && Object.keys(r.settings).length) {
    out.push('## Settings', '');
    const byStage = new Map<string, string[]>();
    for (const [k, v] of Object.entries(r.settings)) {
      const stage = k.split('.')[0]!;
      byStage.set(stage, [...(byStage.get(stage) ?? []), v]);
    }
    for (const [stage, values] of byStage) out.push(`- **${stage}**: ${values.join(', ')}`);
    out.push('');
  }

  const stages = Object.entries(r.stageSeconds);
  if (stages.length) {
    out.push('## Time per stage', '', '| stage | time |', '|---|--:|', ...stages.map(([s, t]) => `| ${s} | ${formatSeconds(t ?? 0)} |`), '');
  }

  if (r.layers.length) {
    const merged = new Map<string, RunRecord['layers'][number]>();
    for (const l of r.layers) merged.set(l.name, { ...merged.get(l.name), ...l });
    out.push(`## Layers (${merged.size})`, '', '| layer | method | bits | group | sparsity | relative error | time |', '|---|---|--:|--:|--:|--:|--:|');
    for (const l of merged.values()) {
      const cells = [cell(l.name), l.method ?? '', l.bits ?? '', l.groupSize ?? '', l.sparsity !== undefined ? `${(100 * l.sparsity).toFixed(1)} %` : '',
        l.relError !== undefined ? formatNumber(l.relError, 3) : '', l.seconds !== undefined ? formatSeconds(l.seconds) : ''];
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('', '*Relative error: ‖WX − ŴX‖² / ‖WX‖² of the layer on calibration inputs (0 = unchanged).*', '');
  }

  if (r.warnings?.length) out.push('## Warnings', '', ...r.warnings.map((w) => `- ${w}`), '');

  const files = ['run.json', r.artifacts.log, r.artifacts.compressedModel, r.artifacts.quant].filter(Boolean).join(', ');
  out.push('## Files', '', `- recipe: \`${r.recipePath}\``, `- model: \`${r.modelPath}\``, `- run folder: \`${dir}\` (${files})`, '');
  out.push('## Versions', '', `QRecipe ${r.versions.qrecipe}${r.versions.addon ? `, native addon ${r.versions.addon}` : ''}, onnxruntime ${r.versions.onnxruntime}, Node ${r.versions.node}; seed ${r.seed}`, '');
  return out.join('\n');
}
