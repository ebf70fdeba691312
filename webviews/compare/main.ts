// Compare view: metrics with deltas against the original, a size-vs-quality scatter with the Pareto
// front, the fine-tuning loss curves of runs that have them, per-layer bits/sparsity side by side,
// and a button for the recipe diff.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import type { CompareData } from '../protocol';
import { addStyles, getState, h, onMessage, post, s, setState } from '../shared/host';
import { paretoFront } from './pareto';
import { lossCurves } from './curves';
import { formatMetric, formatMetricDelta, isBetter, metricInfo, orderedKeys } from '../../language-server/core/format/metrics';
import { formatBytes, formatNumber, formatTick, niceTicks } from '../../language-server/core/format/numbers';

interface State {
  runDirs: string[];
  data?: CompareData;
}

addStyles(`
  body { color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 16px 24px; }
  h2 { font-size: 1.1em; margin: 20px 0 8px; font-weight: 600; }
  .better { color: var(--vscode-testing-iconPassed, #3fb950); }
  .worse { color: var(--vscode-testing-iconFailed, #f85149); }
  .muted { color: var(--vscode-descriptionForeground); }
  .row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
  svg.scatter { background: var(--vscode-editorWidget-background); border: 1px solid var(--vscode-widget-border, transparent); }
  svg.scatter text { fill: var(--vscode-foreground); font-size: 11px; }
  svg.scatter .axis { stroke: var(--vscode-descriptionForeground); }
  svg.scatter .front { stroke: var(--vscode-charts-blue, #3794ff); fill: none; stroke-width: 1.5; stroke-dasharray: 4 3; }
  svg.scatter circle { fill: var(--vscode-charts-purple, #b180d7); stroke: var(--vscode-editor-background); stroke-width: 1.5; cursor: pointer; }
  svg.scatter circle.original { fill: var(--vscode-charts-foreground, #ccc); }
  svg.scatter circle.onfront { fill: var(--vscode-charts-blue, #3794ff); }
  svg.scatter circle:focus { outline: none; stroke: var(--vscode-focusBorder); stroke-width: 3; }
  svg.scatter .grid { stroke: var(--vscode-widget-border, rgba(128,128,128,0.25)); stroke-dasharray: 2 3; }
  .legend p { margin: 4px 0; }
  .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: var(--vscode-charts-purple, #b180d7); vertical-align: middle; }
  .dot.onfront { background: var(--vscode-charts-blue, #3794ff); }
  .dot.original { background: var(--vscode-charts-foreground, #ccc); }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
`);

const app = document.getElementById('app')!;
let state: State = getState<State>() ?? { runDirs: [] };

function cell(text: string, cls?: string, title?: string): HTMLElement {
  return h('vscode-table-cell', { class: cls, title }, text);
}

function runHeader(d: CompareData, i: number): HTMLElement {
  const r = d.comparison.runs[i]!;
  return h('vscode-table-header-cell', { title: `${r.id} (${r.status})\n${r.recipePath}` }, d.labels[i] ?? r.id);
}

function metricsTable(d: CompareData): HTMLElement {
  const c = d.comparison;
  const header = h('vscode-table-header', { slot: 'header' }, h('vscode-table-header-cell', {}, 'metric'), h('vscode-table-header-cell', {}, 'original'),
    ...c.runs.map((_, i) => runHeader(d, i)));
  const body = h('vscode-table-body', { slot: 'body' });
  for (const name of orderedKeys(c.metrics.map((m) => m.name))) {
    const m = c.metrics.find((x) => x.name === name)!;
    const info = metricInfo(name);
    const row = h('vscode-table-row', {}, cell(info.label, undefined, info.help), cell(formatMetric(name, m.original), 'num'));
    m.values.forEach((v, i) => {
      const delta: number | null | undefined = m.deltas[i];
      const good = isBetter(name, delta);
      const text = delta == null ? formatMetric(name, v) : `${formatMetric(name, v)}  (${formatMetricDelta(name, delta)})`;
      row.append(cell(text, good === undefined ? 'num' : good ? 'num better' : 'num worse', good === undefined ? undefined : good ? 'better than the original' : 'worse than the original'));
    });
    body.append(row);
  }
  return h('vscode-table', { zebra: true, bordered: true, resizable: true, columns: JSON.stringify(['28%', ...c.runs.map(() => 'auto'), 'auto']) }, header, body);
}

function scatter(d: CompareData): SVGElement {
  const W = 560, H = 340, L = 72, B = 46, T = 16, R = 24;
  const pts = d.points;
  const svg = s('svg', { class: 'scatter', width: W, height: H, role: 'img', 'aria-label': 'model size against quality' });
  if (!pts.length) {
    svg.append(s('text', { x: 20, y: 40 }, 'No run has both a size and a quality metric yet.'));
    return svg;
  }
  const key = pts[0]!.qualityKey;
  const info = metricInfo(key);
  const scale = info.kind === 'percent' ? 100 : 1;
  const xs = pts.map((p) => p.bytes / 2 ** 20);
  const ys = pts.map((p) => p.quality * scale);
  const pad = (lo: number, hi: number): number => (hi - lo || Math.abs(hi) || 1) * 0.12;
  const [x0, x1] = [lowest(xs), highest(xs)];
  const [y0, y1] = [lowest(ys), highest(ys)];
  // axes span the points with a margin; ticks are the round values inside
  const xa = Math.max(0, x0 - pad(x0, x1)), xb = x1 + pad(x0, x1), ya = y0 - pad(y0, y1), yb = y1 + pad(y0, y1);
  const xt = niceTicks(xa, xb, 5);
  const yt = niceTicks(ya, yb, 5);
  const X = (v: number): number => L + ((v - xa) / (xb - xa || 1)) * (W - L - R);
  const Y = (v: number): number => H - B - ((v - ya) / (yb - ya || 1)) * (H - B - T);
  svg.append(s('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  const xs1 = xt.length > 1 ? xt[1]! - xt[0]! : 1, ys1 = yt.length > 1 ? yt[1]! - yt[0]! : 1;
  for (const v of xt) svg.append(s('line', { class: 'grid', x1: X(v), y1: T, x2: X(v), y2: H - B }), s('text', { x: X(v), y: H - B + 16, 'text-anchor': 'middle' }, formatTick(v, xs1)));
  for (const v of yt) svg.append(s('line', { class: 'grid', x1: L, y1: Y(v), x2: W - R, y2: Y(v) }), s('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, formatTick(v, ys1)));
  svg.append(s('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle' }, 'size of the weights (MiB) →  smaller is better'));
  const yLabel = `${info.label}${info.unit ? ` (${info.unit})` : ''} — ${info.lowerIsBetter ? 'lower' : 'higher'} is better`;
  svg.append(s('text', { x: 14, y: (T + H - B) / 2, transform: `rotate(-90 14 ${(T + H - B) / 2})`, 'text-anchor': 'middle' }, yLabel));
  const front = paretoFront(pts.map((p) => ({ x: p.bytes, y: p.lowerIsBetter ? p.quality : -p.quality })));
  const frontPts = front.map((i) => pts[i]!).sort((a, b) => a.bytes - b.bytes);
  if (frontPts.length > 1) svg.append(s('polyline', { class: 'front', points: frontPts.map((p) => `${X(p.bytes / 2 ** 20)},${Y(p.quality * scale)}`).join(' ') }));
  pts.forEach((p, i) => {
    const cls = p.runId === 'original' ? 'original' : front.includes(i) ? 'onfront' : '';
    const summary = `${p.label}: ${formatBytes(p.bytes)}, ${info.label} ${formatMetric(key, p.quality)}`;
    const c = s('circle', { cx: X(p.bytes / 2 ** 20), cy: Y(p.quality * scale), r: 6, class: cls, tabindex: 0, role: 'button', 'aria-label': summary },
      s('title', {}, `${summary}${p.runId === 'original' ? '' : `\nrun ${p.runId} — click to open it`}`));
    const open = (): void => { if (p.runId !== 'original') post({ type: 'compare/reveal-run', runId: p.runId }); };
    c.addEventListener('click', open);
    c.addEventListener('keydown', (e) => { if ((e as KeyboardEvent).key === 'Enter') open(); });
    const right = X(p.bytes / 2 ** 20) > W - 160;
    svg.append(c, s('text', { x: X(p.bytes / 2 ** 20) + (right ? -9 : 9), y: Y(p.quality * scale) - 8, 'text-anchor': right ? 'end' : 'start' }, p.label));
  });
  return svg;
}

function layersTable(d: CompareData): HTMLElement {
  const c = d.comparison;
  const header = h('vscode-table-header', { slot: 'header' }, h('vscode-table-header-cell', {}, 'layer'), ...c.runs.map((_, i) => runHeader(d, i)));
  const body = h('vscode-table-body', { slot: 'body' });
  for (const l of c.layers) {
    // a layer the runs treat differently (method, width, group, sparsity, outliers) is marked
    body.append(h('vscode-table-row', {}, cell(l.differs ? `${l.name} *` : l.name, undefined, l.differs ? `${l.name}: the runs differ here` : l.name), ...l.runs.map((r) => {
      if (!r) return cell('—', 'num');
      const parts = [r.method ?? '', r.bits !== undefined ? `${r.bits} bits` : '', r.groupSize !== undefined ? `g${r.groupSize}` : '', r.sparsity != null ? `${(100 * r.sparsity).toFixed(0)} % zero` : '', r.relError != null ? `err ${formatNumber(r.relError, 2)}` : ''].filter(Boolean);
      return cell(parts.join(' · ') || '—', 'num', r.relError != null ? `relative error ‖WX − ŴX‖² / ‖WX‖² = ${formatNumber(r.relError, 4)}` : undefined);
    })));
  }
  return h('vscode-table', { zebra: true, bordered: true }, header, body);
}

function render(d: CompareData | undefined): void {
  app.replaceChildren();
  if (!d) {
    app.append(h('p', { class: 'muted' }, 'Loading runs…'));
    return;
  }
  const runs = d.comparison.runs;
  app.append(h('h2', {}, `Comparing ${runs.length} runs`));
  app.append(h('ol', {}, ...runs.map((r, i) => h('li', {}, h('strong', {}, d.labels[i] ?? r.id), ` — ${r.status} — ${r.recipePath.split(/[\\/]/).pop()} `, h('span', { class: 'muted' }, r.id)))));
  if (runs.length >= 2) {
    const diff = h('vscode-button', { secondary: true }, `Open recipe diff (${d.labels[0]} ↔ ${d.labels[1]})`);
    diff.addEventListener('click', () => post({ type: 'compare/open-recipe-diff', runIds: [runs[0]!.id, runs[1]!.id] }));
    app.append(diff);
  }
  app.append(h('h2', {}, 'Metrics of the compressed models (change against the original)'), metricsTable(d));
  app.append(h('h2', {}, 'Size against quality'), h('div', { class: 'row' }, scatter(d), h('div', { class: 'legend muted' },
    h('p', {}, h('span', { class: 'dot onfront' }), ' on the Pareto front: no other run is both smaller and better'),
    h('p', {}, h('span', { class: 'dot' }), ' dominated: another run is smaller and at least as good'),
    h('p', {}, h('span', { class: 'dot original' }), ' the original model'),
    h('p', {}, 'Click a point to open its run.'))));
  const curves = lossCurves(d);
  if (curves) app.append(h('h2', {}, 'Fine-tuning: distillation loss per step'), curves);
  app.append(h('h2', {}, `Layers (${d.comparison.layers.length})`), layersTable(d));
}

onMessage((m) => {
  if (m.type === 'compare/data') {
    state = { ...state, data: m.data };
    setState(state);
    render(m.data);
  }
});
render(state.data);
post({ type: 'ready' });

/** min/max without spreading (a spread of 100k+ layers overflows the call stack). */
function lowest(xs: readonly number[]): number { let m = Infinity; for (const x of xs) if (x < m) m = x; return m; }
function highest(xs: readonly number[]): number { let m = -Infinity; for (const x of xs) if (x > m) m = x; return m; }
