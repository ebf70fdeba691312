// Compare view: metrics with deltas against the original, a size-vs-quality scatter with the Pareto
// front, per-layer bits/sparsity side by side, and a button for the recipe diff.
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
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
`);

const app = document.getElementById('app')!;
let state: State = getState<State>() ?? { runDirs: [] };

// Messages cross as JSON, so a missing value (undefined in an array) arrives as null.
function fmt(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
  return v.toFixed(a >= 100 ? 1 : 4);
}

const lowerIsBetter = (name: string) => !/accuracy|agreement/i.test(name);

function fmtMetric(name: string, v: number | null | undefined): string {
  if (v == null || !/bytes/i.test(name)) return fmt(v);
  const a = Math.abs(v);
  return a >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(2)} MiB` : a >= 1024 ? `${(v / 1024).toFixed(1)} KiB` : `${v} B`;
}

function cell(text: string, cls?: string): HTMLElement {
  return h('vscode-table-cell', { class: cls }, text);
}

function metricsTable(d: CompareData): HTMLElement {
  const c = d.comparison;
  const header = h('vscode-table-header', { slot: 'header' }, h('vscode-table-header-cell', {}, 'metric'), h('vscode-table-header-cell', {}, 'original'),
    ...c.runs.map((r, i) => h('vscode-table-header-cell', { title: r.id }, `run ${i + 1}`)));
  const body = h('vscode-table-body', { slot: 'body' });
  for (const m of c.metrics) {
    const row = h('vscode-table-row', {}, cell(m.name), cell(fmtMetric(m.name, m.original), 'num'));
    m.values.forEach((v, i) => {
      const delta: number | null | undefined = m.deltas[i];
      const good = delta == null || delta === 0 ? undefined : (delta < 0) === lowerIsBetter(m.name);
      const text = delta == null ? fmtMetric(m.name, v) : `${fmtMetric(m.name, v)}  (${delta >= 0 ? '+' : ''}${fmtMetric(m.name, delta)})`;
      row.append(cell(text, good === undefined ? 'num' : good ? 'num better' : 'num worse'));
    });
    body.append(row);
  }
  return h('vscode-table', { zebra: true, bordered: true, 'resizable': true, columns: JSON.stringify(['28%', ...c.runs.map(() => 'auto'), 'auto']) }, header, body);
}

function scatter(d: CompareData): SVGElement {
  const W = 520, H = 320, L = 64, B = 40, T = 16, R = 16;
  const pts = d.points;
  const svg = s('svg', { class: 'scatter', width: W, height: H, role: 'img', 'aria-label': 'model size against quality' });
  if (!pts.length) {
    svg.append(s('text', { x: 20, y: 40 }, 'No run has both a size and a quality metric yet.'));
    return svg;
  }
  const xs = pts.map((p) => p.bytes / 2 ** 20);
  const ys = pts.map((p) => p.quality);
  const pad = (lo: number, hi: number) => (hi - lo || Math.abs(hi) || 1) * 0.1;
  const [x0, x1] = [lowest(xs), highest(xs)];
  const [y0, y1] = [lowest(ys), highest(ys)];
  const xa = x0 - pad(x0, x1), xb = x1 + pad(x0, x1), ya = y0 - pad(y0, y1), yb = y1 + pad(y0, y1);
  const X = (v: number) => L + ((v - xa) / (xb - xa)) * (W - L - R);
  const Y = (v: number) => H - B - ((v - ya) / (yb - ya)) * (H - B - T);
  svg.append(s('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  for (let i = 0; i <= 4; i++) {
    const xv = xa + ((xb - xa) * i) / 4, yv = ya + ((yb - ya) * i) / 4;
    svg.append(s('text', { x: X(xv), y: H - B + 16, 'text-anchor': 'middle' }, xv.toFixed(2)));
    svg.append(s('text', { x: L - 6, y: Y(yv) + 4, 'text-anchor': 'end' }, fmt(yv)));
  }
  svg.append(s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, 'size (MiB)'));
  svg.append(s('text', { x: 14, y: (T + H - B) / 2, transform: `rotate(-90 14 ${(T + H - B) / 2})`, 'text-anchor': 'middle' }, pts[0].qualityName));
  const front = paretoFront(pts.map((p) => ({ x: p.bytes, y: p.lowerIsBetter ? p.quality : -p.quality })));
  const frontPts = front.map((i) => pts[i]).sort((a, b) => a.bytes - b.bytes);
  if (frontPts.length > 1) svg.append(s('polyline', { class: 'front', points: frontPts.map((p) => `${X(p.bytes / 2 ** 20)},${Y(p.quality)}`).join(' ') }));
  pts.forEach((p, i) => {
    const cls = p.runId === 'original' ? 'original' : front.includes(i) ? 'onfront' : '';
    const c = s('circle', { cx: X(p.bytes / 2 ** 20), cy: Y(p.quality), r: 6, class: cls, tabindex: 0, role: 'button', 'aria-label': `${p.label}: ${fmt(p.bytes / 2 ** 20)} MiB, ${p.qualityName} ${fmt(p.quality)}` },
      s('title', {}, `${p.label} (${p.runId})\n${(p.bytes / 2 ** 20).toFixed(3)} MiB, ${p.qualityName} ${fmt(p.quality)}`));
    const open = () => p.runId !== 'original' && post({ type: 'compare/reveal-run', runId: p.runId });
    c.addEventListener('click', open);
    c.addEventListener('keydown', (e) => { if ((e as KeyboardEvent).key === 'Enter') open(); });
    svg.append(c, s('text', { x: X(p.bytes / 2 ** 20) + 9, y: Y(p.quality) - 8 }, p.label));
  });
  return svg;
}

function layersTable(d: CompareData): HTMLElement {
  const c = d.comparison;
  const header = h('vscode-table-header', { slot: 'header' }, h('vscode-table-header-cell', {}, 'layer'), ...c.runs.map((_, i) => h('vscode-table-header-cell', {}, `run ${i + 1}: bits · sparsity · loss`)));
  const body = h('vscode-table-body', { slot: 'body' });
  for (const l of c.layers) {
    body.append(h('vscode-table-row', {}, cell(l.name), ...l.runs.map((r) => cell(r ? `${r.bits ?? '—'} · ${r.sparsity != null ? (100 * r.sparsity).toFixed(0) + '%' : '—'} · ${fmt(r.loss)}` : '—', 'num'))));
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
  app.append(h('ol', {}, ...runs.map((r) => h('li', {}, `${r.id} — ${r.status} — ${r.recipePath}`))));
  if (runs.length >= 2) {
    const diff = h('vscode-button', { secondary: true }, 'Open recipe diff (run 1 ↔ run 2)');
    diff.addEventListener('click', () => post({ type: 'compare/open-recipe-diff', runIds: [runs[0].id, runs[1].id] }));
    app.append(diff);
  }
  app.append(h('h2', {}, 'Metrics (compressed, with change against the original model)'), metricsTable(d));
  app.append(h('h2', {}, 'Size against quality'), h('div', { class: 'row' }, scatter(d), h('p', { class: 'muted' }, 'Blue: on the Pareto front (no other run is both smaller and better). Grey: the original model. Click a point to open its run.')));
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
