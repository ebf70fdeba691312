// Sensitivity view: layers × bit-widths heat map, the allocation under a live budget slider (bars
// coloured by width, size and outliers), the budget → predicted-loss frontier, pins, layer details
// with reveal-in-recipe, "Write allocation to recipe", and SPADE traces (dense vs trace saliency).
// The extension host owns the solver tables; the slider sends `sensitivity/solve` and keeps at most
// one request in flight (the latest position wins), so the view follows the pointer.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { METRIC_NAMES, type Allocation, type Budget, type EngineProgress, type FrontierPointView, type LayerSensitivity, type SensitivityMetric, type SensitivityViewData, type SpadeResult } from '../protocol';
import { addStyles, getState, h, onMessage, post, s, setState } from '../shared/host';
import { STYLES } from './styles';
import { bitsClass, heat, fmt, nameParts, METRIC_HELP } from './format';
import { formatBytes, formatSeconds, formatTick, logTicks, niceTicks } from '../../language-server/core/format/numbers';

interface State {
  recipe: string;
  metric?: SensitivityMetric;
  kind: Budget['kind'];
  /** Slider position per kind: bytes, or average bits. */
  value: { bytes?: number; bits?: number };
  pins: Record<string, number>;
  selected?: string;
  tab: 'allocation' | 'spade';
  spadeSample?: string;
}

addStyles(STYLES);
const app = document.getElementById('app')!;
const saved = getState<Partial<State>>() ?? {};
const state: State = { recipe: saved.recipe ?? '', kind: saved.kind ?? 'bits', value: saved.value ?? {}, pins: saved.pins ?? {}, tab: saved.tab ?? 'allocation', metric: saved.metric, selected: saved.selected, spadeSample: saved.spadeSample };
let data: SensitivityViewData | undefined;
let allocation: Allocation | undefined;
let frontier: { bytes: FrontierPointView[]; bits: FrontierPointView[] } | undefined;
let status: { state: 'computing' | 'error' | 'idle'; message: string; progress?: EngineProgress } = { state: 'computing', message: 'Waiting for the extension…' };
let written: string | undefined;
let nextId = 1;
let inFlight = 0;
let pending = false;

function save(): void {
  setState(state);
}

function layers(): LayerSensitivity[] {
  return data?.result.layers ?? [];
}

function metricOf(): SensitivityMetric {
  return state.metric ?? data?.result.metricAsked ?? 'hessian';
}

function budget(): Budget {
  const r = data!.ranges[state.kind];
  const v = state.value[state.kind] ?? defaultValue();
  const x = Math.min(r.max, Math.max(r.min, v));
  return state.kind === 'bytes' ? { kind: 'bytes', bytes: Math.round(x) } : { kind: 'bits', bits: x };
}

function defaultValue(): number {
  const b = data!.result.budget;
  if (b.kind === state.kind) return b.kind === 'bytes' ? b.bytes : b.bits;
  const r = data!.ranges[state.kind];
  return (r.min + r.max) / 2;
}

/** Sends a solve now, or marks one pending while another is in flight (the latest position wins). */
function solve(): void {
  if (!data || !data.result.layers.length) return;
  if (inFlight) { pending = true; return; }
  inFlight = nextId++;
  post({ type: 'sensitivity/solve', requestId: inFlight, budget: budget(), pins: state.pins, metric: metricOf() });
}

onMessage((m) => {
  switch (m.type) {
    case 'sensitivity/data':
      data = m.data;
      frontier = m.data.frontier;
      if (!Object.keys(state.pins).length) state.pins = Object.fromEntries(m.data.result.layers.filter((l) => l.pinned !== undefined).map((l) => [l.name, l.pinned!]));
      // Pins of layers that no longer exist (recipe changed) are dropped.
      state.pins = Object.fromEntries(Object.entries(state.pins).filter(([n, b]) => m.data.result.layers.some((l) => l.name === n && l.candidates.includes(b))));
      status = { state: 'idle', message: '' };
      inFlight = 0;
      save();
      render();
      solve();
      break;
    case 'sensitivity/status':
      status = { state: m.state, message: m.message, progress: m.progress };
      renderStatus();
      break;
    case 'sensitivity/written':
      written = `Wrote ${m.layers} layer widths${m.budget ? ` and \`budget ${m.budget}\`` : ''} into the recipe (Ctrl+Z in the editor undoes it).`;
      renderReadout();
      break;
    case 'sensitivity/solved':
      if (m.inReplyTo !== inFlight) break;
      inFlight = 0;
      allocation = m.allocation;
      if (m.frontier) frontier = m.frontier;
      if (pending) { pending = false; solve(); }
      renderAllocation();
      break;
    default:
      break;
  }
});

// ---- rendering ------------------------------------------------------------------------------

const statusEl = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
const bodyEl = h('div', { class: 'body' });
app.append(statusEl, bodyEl);

function renderStatus(): void {
  statusEl.replaceChildren();
  statusEl.className = `status ${status.state}`;
  if (status.state === 'computing') {
    const p = status.progress;
    const pct = p && p.total > 0 ? Math.min(100, Math.floor((100 * p.done) / p.total)) : undefined;
    const stop = h('vscode-button', { secondary: true, id: 'stop', title: 'Stop the engine (the result so far is discarded)' }, 'Stop');
    stop.addEventListener('click', () => post({ type: 'sensitivity/cancel' }));
    const bar = h('div', { class: 'pbar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct ?? 0 });
    const fill = h('div', { class: 'pfill' });
    fill.style.setProperty('width', `${pct ?? 0}%`);
    bar.append(fill);
    const eta = p?.etaSeconds !== undefined ? ` · about ${formatSeconds(p.etaSeconds)} left in this step` : '';
    statusEl.append(h('vscode-progress-ring', { class: 'ring' }), h('div', { class: 'pbox' },
      h('div', {}, status.message, pct !== undefined ? h('span', { class: 'muted' }, ` — ${p!.label ?? 'working'}: ${p!.done}/${p!.total} (${pct}%)${eta}`) : ''), bar), stop);
  } else if (status.state === 'error') statusEl.append(h('span', { class: 'codicon' }, '⚠ '), status.message);
  else if (status.message) statusEl.append(h('span', { class: 'muted' }, status.message));
}

let sliderEl: HTMLInputElement | undefined;
let readoutEl: HTMLElement | undefined;
let frontierEl: HTMLElement | undefined;
let gridEl: HTMLElement | undefined;
let detailsEl: HTMLElement | undefined;

function render(): void {
  renderStatus();
  bodyEl.replaceChildren();
  if (!data) return;
  const r = data.result;
  const spadeOnly = !r.layers.length;
  if (spadeOnly) state.tab = 'spade';
  const tabs = h('div', { class: 'tabs', role: 'tablist' },
    spadeOnly ? undefined : tabButton('allocation', 'Allocation'), tabButton('spade', `SPADE${data.spade.length ? ` (${data.spade.length})` : ''}`));
  bodyEl.append(
    h('div', { class: 'head' },
      h('div', { class: 'title' }, h('strong', {}, r.recipe.split(/[\\/]/).pop() ?? r.recipe),
        h('span', { class: 'muted' }, ` · ${r.model.split(/[\\/]/).pop()}${spadeOnly ? '' : ` · ${r.layers.length} layers · calibration ${r.dataset} (${r.samples} samples)`}`)),
      tabs),
  );
  if (r.notes.length) bodyEl.append(h('ul', { class: 'notes' }, ...r.notes.map((n) => h('li', {}, n))));
  if (state.tab === 'spade') bodyEl.append(renderSpade());
  else bodyEl.append(renderAllocationTab());
  renderAllocation();
}

function tabButton(id: State['tab'], label: string): HTMLElement {
  const b = h('button', { role: 'tab', class: 'tab', 'aria-selected': state.tab === id ? 'true' : 'false', tabindex: state.tab === id ? 0 : -1 }, label);
  b.addEventListener('click', () => { state.tab = id; save(); render(); });
  b.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { state.tab = state.tab === 'allocation' ? 'spade' : 'allocation'; save(); render(); (bodyEl.querySelector('[aria-selected="true"]') as HTMLElement | null)?.focus(); }
  });
  return b;
}

function renderAllocationTab(): HTMLElement {
  const d = data!;
  const r = d.ranges[state.kind];
  const metrics = METRIC_NAMES.filter((m) => d.result.layers.some((l) => l.scores[m]));
  const metricSel = h('select', { id: 'metric', 'aria-label': 'sensitivity metric' }, ...metrics.map((m) => h('option', { value: m, selected: m === metricOf() }, m)));
  metricSel.addEventListener('change', () => { state.metric = metricSel.value as SensitivityMetric; save(); solve(); renderGrid(); });
  const kindSel = h('select', { id: 'kind', 'aria-label': 'budget unit' }, h('option', { value: 'bits', selected: state.kind === 'bits' }, 'average bits'), h('option', { value: 'bytes', selected: state.kind === 'bytes' }, 'size (bytes)'));
  kindSel.addEventListener('change', () => { state.kind = kindSel.value as Budget['kind']; save(); render(); solve(); });
  const step = state.kind === 'bits' ? 0.01 : Math.max(1, Math.round((r.max - r.min) / 1000));
  sliderEl = h('input', { type: 'range', id: 'budget', min: r.min, max: r.max, step, value: state.value[state.kind] ?? defaultValue(), 'aria-label': 'weight memory budget' });
  sliderEl.addEventListener('input', () => { state.value[state.kind] = Number(sliderEl!.value); save(); solve(); renderReadout(); });
  readoutEl = h('div', { class: 'readout', 'aria-live': 'polite' });
  const write = h('vscode-button', { id: 'write', title: 'Write one override per layer into the allocate stage (undoable)' }, 'Write allocation to recipe');
  write.addEventListener('click', () => {
    if (!allocation) return;
    post({ type: 'sensitivity/write-allocation', bits: Object.fromEntries(layers().map((l, i) => [l.name, allocation!.bits[i]!])) });
  });
  const clear = h('vscode-button', { secondary: true, id: 'clear-pins' }, 'Clear pins');
  clear.addEventListener('click', () => { state.pins = {}; save(); solve(); });
  const recompute = h('vscode-button', { secondary: true, id: 'recompute', title: 'Run the engine again, ignoring the cache' }, 'Recompute');
  recompute.addEventListener('click', () => post({ type: 'sensitivity/recompute', metric: metricOf() }));
  frontierEl = h('div', { class: 'frontier' });
  gridEl = h('div', { class: 'grid', role: 'grid', 'aria-label': 'layers: sensitivity per bit width and allocated bits' });
  detailsEl = h('div', { class: 'details', 'aria-live': 'polite' });
  return h('div', { class: 'alloc' },
    h('div', { class: 'controls' },
      h('label', { for: 'metric' }, 'Metric '), metricSel,
      h('label', { for: 'kind' }, ' Budget in '), kindSel,
      sliderEl, readoutEl, write, clear, recompute),
    h('div', { class: 'row' }, frontierEl, detailsEl),
    gridEl);
}

function renderReadout(): void {
  if (!readoutEl || !data) return;
  const b = budget();
  const target = b.kind === 'bytes' ? formatBytes(b.bytes) : `${b.bits.toFixed(2)} bits`;
  readoutEl.replaceChildren(h('span', { class: 'muted' }, `budget ${target}`));
  if (!allocation) return;
  const a = allocation;
  const metric = metricOf();
  readoutEl.append(
    h('span', {}, ` → weights ${formatBytes(a.bytes)}`),
    // bits per weight as the checker's inlay hint and the export count it (codes, scales, zeros, padding), beside the codes' mean width the budget is in
    h('span', { title: 'file bits per weight of these layers (as the recipe\'s size hint and the exported file count them), and the mean code width the bit budget is in' },
      ` · ${((8 * a.bytes) / Math.max(1, layers().reduce((n, l) => n + l.params, 0))).toFixed(2)} bits per weight (codes ${a.averageBits.toFixed(2)} bits on average)`),
    h('span', { title: METRIC_HELP[metric] }, ` · predicted Δloss ${fmt(a.predicted)}`),
    a.feasible ? '' : h('span', { class: 'bad' }, ' · below the smallest allocation'),
    a.exact ? '' : h('span', { class: 'muted', title: `LP lower bound ${fmt(a.lowerBound)}` }, ` · within ${fmt(((a.predicted - a.lowerBound) / Math.max(1e-30, a.predicted)) * 100)}% of optimal`),
    h('div', { class: 'explain muted' }, `Predicted Δloss: how much the model's loss should grow if every layer is quantised to the width chosen for it, `
      + `the sum over layers of the ${metric} sensitivity (${METRIC_HELP[metric]}). Use it to compare allocations: smaller is better; the budget slider trades it against size.`),
    written ? h('div', { class: 'written' }, written) : '',
  );
}

function renderAllocation(): void {
  renderReadout();
  renderFrontier();
  renderGrid();
  renderDetails();
}

function renderFrontier(): void {
  if (!frontierEl || !data || !frontier) return;
  const pts = frontier[state.kind];
  const W = 440, H = 230, L = 58, B = 40, T = 12, R = 14;
  const xv = (p: { bytes: number; averageBits: number }): number => (state.kind === 'bytes' ? p.bytes / 2 ** 20 : p.averageBits);
  const ys = pts.map((p) => Math.max(p.predicted, 1e-30));
  const x0 = lowest(pts.map(xv)), x1 = highest(pts.map(xv));
  const xt = niceTicks(x0, x1, 5);
  const yt = logTicks(lowest(ys), highest(ys));
  const y0 = Math.log10(Math.min(lowest(ys), lowest(yt))), y1 = Math.log10(Math.max(highest(ys), highest(yt)));
  const X = (x: number): number => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (y: number): number => T + (1 - (Math.log10(Math.max(y, 1e-30)) - y0) / (y1 - y0 || 1)) * (H - T - B);
  const svg = s('svg', { width: W, height: H, class: 'chart', role: 'img', 'aria-label': 'frontier: budget against predicted loss increase (log scale)' });
  svg.append(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }), s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  const step = xt.length > 1 ? xt[1]! - xt[0]! : 1;
  for (const v of xt) svg.append(s('line', { class: 'grid', x1: X(v), y1: T, x2: X(v), y2: H - B }), s('text', { x: X(v), y: H - B + 14, 'text-anchor': 'middle' }, formatTick(v, step)));
  for (const v of yt) svg.append(s('line', { class: 'grid', x1: L, y1: Y(v), x2: W - R, y2: Y(v) }), s('text', { x: L - 4, y: Y(v) + 3, 'text-anchor': 'end' }, fmt(v)));
  let d = '';
  pts.forEach((p, i) => { d += `${i ? 'L' : 'M'}${X(xv(p)).toFixed(1)},${Y(p.predicted).toFixed(1)}`; });
  svg.append(s('path', { d, class: 'front' }, s('title', {}, 'the smallest predicted Δloss reachable at each budget')));
  svg.append(s('text', { x: (W + L) / 2, y: H - 6, 'text-anchor': 'middle', class: 'muted' }, state.kind === 'bytes' ? 'weight memory (MiB)' : 'average bits per weight'));
  svg.append(s('text', { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, 'text-anchor': 'middle', class: 'muted' }, 'predicted Δloss (log scale)'));
  let measured = 0;
  for (const m of data.result.measured) {
    const x = state.kind === 'bytes' ? m.bytes / 2 ** 20 : m.averageBits;
    if (x < x0 || x > x1) continue;
    measured++;
    const what = m.perplexity !== undefined ? `measured perplexity ${fmt(m.perplexity)}` : m.kl !== undefined ? `measured KL ${fmt(m.kl)} nats` : 'measured';
    svg.append(s('circle', { cx: X(x), cy: Y(m.predicted), r: 3.5, class: 'measured' }, s('title', {}, `${m.label}: ${state.kind === 'bytes' ? formatBytes(m.bytes) : `${m.averageBits.toFixed(2)} bits`}, predicted Δloss ${fmt(m.predicted)}; ${what}${m.kl !== undefined && m.perplexity !== undefined ? `, KL ${fmt(m.kl)} nats` : ''}`)));
  }
  if (allocation) svg.append(s('circle', { cx: X(xv(allocation)), cy: Y(allocation.predicted), r: 5, class: 'current' }, s('title', {}, `the allocation at the slider: ${formatBytes(allocation.bytes)}, ${allocation.averageBits.toFixed(2)} bits, predicted Δloss ${fmt(allocation.predicted)}`)));
  const legend = h('div', { class: 'legend' },
    h('span', {}, h('span', { class: 'swatch line' }), ' best predicted Δloss per budget'),
    h('span', {}, h('span', { class: 'swatch current' }), ' the slider\'s allocation'),
    measured ? h('span', {}, h('span', { class: 'swatch measured' }), ' measured allocations (hover for perplexity)') : '');
  frontierEl.replaceChildren(h('div', { class: 'label' }, 'Frontier: smallest predicted Δloss at each budget'), svg, legend);
}

function renderGrid(): void {
  if (!gridEl || !data) return;
  const ls = layers();
  const metric = metricOf();
  const cands = [...new Set(ls.flatMap((l) => l.candidates))].sort((a, b) => a - b);
  const all = ls.flatMap((l) => (l.scores[metric] ?? l.scores[l.metric] ?? []).filter((v) => v > 0));
  const lo = Math.log10(Math.min(lowest(all), 1)), hi = Math.log10(Math.max(highest(all), 1e-30));
  const maxBytes = highest(ls.map((l) => l.bytes[l.bytes.length - 1]!.total));
  gridEl.style.setProperty('--cands', String(cands.length));
  const head = h('div', { class: 'grow head', role: 'row' }, h('div', { class: 'name', role: 'columnheader' }, 'layer'),
    ...cands.map((b) => h('div', { class: 'cell', role: 'columnheader', title: `${metric} sensitivity at ${b} bits` }, `${b} bits`)), h('div', { class: 'bar', role: 'columnheader', 'aria-label': 'allocated width (bar)' }, ''), h('div', { class: 'barlabel', role: 'columnheader' }, 'allocated width · size'));
  const legend = h('div', { class: 'heatlegend', 'aria-hidden': 'true' }, h('span', {}, `sensitivity (${metric}, log scale): ${fmt(10 ** lo)}`), h('span', { class: 'ramp' }), h('span', {}, `${fmt(10 ** hi)}`),
    h('span', { class: 'muted' }, ' — darker red = the layer suffers more at that width; framed = chosen; dashed = pinned (click a cell to pin)'));
  const rows = ls.map((l, i) => {
    const scores = l.scores[metric] ?? l.scores[l.metric] ?? [];
    const chosen = allocation?.bits[i];
    const pin = state.pins[l.name];
    const row = h('div', { class: `grow${state.selected === l.name ? ' selected' : ''}`, role: 'row', tabindex: 0, 'data-layer': l.name, 'aria-label': `${l.name}: ${chosen ?? '?'} bits${pin ? ', pinned' : ''}` },
      h('div', { class: 'name', role: 'rowheader', title: `${l.name} (${l.op} ${l.rows}×${l.cols})` }, pin !== undefined ? h('span', { class: 'pin-badge', title: `pinned to ${pin} bits` }, 'pin') : '', h('span', { class: 'nhead' }, nameParts(l.name).head), h('span', { class: 'ntail' }, nameParts(l.name).tail)));
    for (const b of cands) {
      const k = l.candidates.indexOf(b);
      const cell = h('div', { class: `cell${chosen === b ? ' chosen' : ''}${pin === b ? ' pinned' : ''}`, role: 'gridcell', title: k < 0 ? 'not a candidate' : `${b} bits: ${metric} ${fmt(scores[k]!)} · ${formatBytes(l.bytes[k]!.total)} (click to pin)` });
      if (k >= 0) {
        cell.style.setProperty('--heat', `${Math.round(heat(scores[k]!, lo, hi) * 100)}%`);
        cell.textContent = fmt(scores[k]!);
        cell.addEventListener('click', (e) => { e.stopPropagation(); togglePin(l, b); });
      } else cell.classList.add('none');
      row.append(cell);
    }
    const k = chosen === undefined ? -1 : l.candidates.indexOf(chosen);
    const bar = h('div', { class: 'bar' });
    const label = h('div', { class: 'barlabel' });
    if (k >= 0) {
      const by = l.bytes[k]!;
      const fill = h('div', { class: `fill ${bitsClass(chosen!)}`, title: `${chosen} bits: ${formatBytes(by.total)} (codes ${formatBytes(by.codes)}, scales ${formatBytes(by.scales)}${by.outliers ? `, outliers ${formatBytes(by.outliers)}` : ''})` });
      fill.style.setProperty('width', `${(100 * by.total) / maxBytes}%`);
      bar.append(fill);
      label.textContent = `${chosen} bits · ${formatBytes(by.total)}${by.outliers ? ` · ${fmt(l.outlierFraction[k]! * 100)}% outliers` : ''}`;
    }
    row.append(bar, label);
    row.addEventListener('click', () => select(l.name));
    row.addEventListener('keydown', (e) => onRowKey(e, l, i));
    return row;
  });
  gridEl.replaceChildren(legend, head, ...rows);
}

function onRowKey(e: KeyboardEvent, l: LayerSensitivity, i: number): void {
  const rows = [...gridEl!.querySelectorAll<HTMLElement>('.grow[data-layer]')];
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const next = rows[Math.max(0, Math.min(rows.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    next?.focus();
    if (next?.dataset.layer) select(next.dataset.layer, false);
  } else if (e.key === 'Enter') {
    post({ type: 'sensitivity/reveal-layer', layer: l.name });
  } else if (/^[2-8]$/.test(e.key) && l.candidates.includes(Number(e.key))) {
    togglePin(l, Number(e.key));
  } else if (e.key === '0' || e.key === 'Backspace' || e.key === 'Delete') {
    delete state.pins[l.name]; save(); solve();
  }
}

function togglePin(l: LayerSensitivity, b: number): void {
  if (state.pins[l.name] === b) delete state.pins[l.name];
  else state.pins[l.name] = b;
  save();
  solve();
}

function select(name: string, focusRow = true): void {
  state.selected = name;
  save();
  for (const r of gridEl?.querySelectorAll<HTMLElement>('.grow[data-layer]') ?? []) r.classList.toggle('selected', r.dataset.layer === name);
  if (focusRow) gridEl?.querySelector<HTMLElement>(`.grow[data-layer="${CSS.escape(name)}"]`)?.focus();
  renderDetails();
}

function renderDetails(): void {
  if (!detailsEl || !data) return;
  const i = layers().findIndex((l) => l.name === state.selected);
  const l = layers()[i];
  if (!l) { detailsEl.replaceChildren(h('div', { class: 'muted' }, 'Select a layer (click, or arrows + Enter to reveal it in the recipe; 2–8 pins a width, 0 unpins).')); return; }
  const metrics = METRIC_NAMES.filter((m) => l.scores[m]);
  const table = h('table', { class: 'cands' },
    h('thead', {}, h('tr', {}, h('th', {}, 'bits'), ...metrics.map((m) => h('th', {}, m)), h('th', {}, 'rel. error'), h('th', {}, 'bytes'), h('th', {}, 'outliers'), h('th', {}, ''))),
    h('tbody', {}, ...l.candidates.map((b, k) => {
      const pin = h('vscode-button', { secondary: state.pins[l.name] !== b, title: state.pins[l.name] === b ? 'unpin' : `pin ${l.name} at ${b} bits` }, state.pins[l.name] === b ? 'Unpin' : 'Pin');
      pin.addEventListener('click', () => togglePin(l, b));
      return h('tr', { class: allocation?.bits[i] === b ? 'chosen' : '' }, h('td', {}, `${b}`), ...metrics.map((m) => h('td', { class: 'num' }, fmt(l.scores[m]![k]!))),
        h('td', { class: 'num' }, fmt(l.relError[k]!)), h('td', { class: 'num' }, formatBytes(l.bytes[k]!.total)),
        h('td', { class: 'num' }, l.bytes[k]!.outliers ? `${fmt(l.outlierFraction[k]! * 100)}% (${formatBytes(l.bytes[k]!.outliers)})` : '—'), h('td', {}, pin));
    })));
  const reveal = h('vscode-button', { secondary: true }, 'Reveal in recipe');
  reveal.addEventListener('click', () => post({ type: 'sensitivity/reveal-layer', layer: l.name }));
  detailsEl.replaceChildren(
    h('div', { class: 'label' }, h('strong', {}, l.name), ` ${l.op} ${l.rows}×${l.cols} · ${l.params.toLocaleString('en-US')} params`),
    h('div', {}, `metric: ${l.metric}`, l.reason ? h('span', { class: 'muted' }, ` — ${l.reason}`) : ''),
    table, reveal);
}

// ---- SPADE ----------------------------------------------------------------------------------

function renderSpade(): HTMLElement {
  const d = data!;
  const pick = h('select', { id: 'sample', 'aria-label': 'sample' }, ...d.spadeSamples.map((x) => h('option', { value: x, selected: x === state.spadeSample }, x.length > 60 ? `${x.slice(0, 60)}…` : x)));
  pick.addEventListener('change', () => { state.spadeSample = pick.value; save(); render(); });
  const run = h('vscode-button', { id: 'run-spade' }, 'Run SPADE');
  run.addEventListener('click', () => post({ type: 'sensitivity/spade', sample: pick.value || state.spadeSample || d.spadeSamples[0] || '' }));
  const r = d.spade.find((x) => x.sample === (state.spadeSample ?? pick.value)) ?? d.spade[0];
  const box = h('div', { class: 'spade' }, h('div', { class: 'controls' }, h('label', { for: 'sample' }, 'Sample '), pick, run));
  if (!r) { box.append(h('p', { class: 'muted' }, 'No SPADE trace yet: pick a sample and run it.')); return box; }
  const f = r.faithfulness;
  box.append(h('div', { class: 'faith' },
    h('vscode-badge', { variant: 'counter', class: f.unchanged ? 'ok' : 'bad' }, f.unchanged ? 'top-1 unchanged' : 'top-1 changed'),
    ` KL(dense‖trace) ${fmt(f.kl)} · dense → “${f.top1Dense}”, trace → “${f.top1Trace}” · ${r.method}${r.reason ? ` (${r.reason})` : ''} · ${r.augmentations} augmented copies`));
  const diff = r.saliency.trace.map((v, i) => v - r.saliency.dense[i]!);
  const rows: [string, number[], boolean][] = [[`dense (${r.method})`, r.saliency.dense, false], [`trace (${r.method})`, r.saliency.trace, false], ['trace − dense', diff, true]];
  if (r.integrated) rows.push(['dense (integrated gradients)', r.integrated.dense, false], ['trace (integrated gradients)', r.integrated.trace, false]);
  for (const [label, vals, signed] of rows) box.append(h('div', { class: 'label' }, label), saliencyView(r, vals, signed));
  box.append(h('div', { class: 'label' }, 'Trace per layer (sparsity bar, fidelity ‖WX−W′X‖²/‖WX‖²)'));
  const strip = h('div', { class: 'strip', role: 'list' });
  for (const l of r.layers) {
    const cell = h('div', { class: 'scell', role: 'listitem', tabindex: 0, title: `${l.name}: sparsity ${fmt(l.sparsity * 100)}% (target ${fmt(l.target * 100)}%), fidelity ${fmt(l.fidelity)}` });
    const bar = h('div', { class: 'sfill' });
    bar.style.setProperty('height', `${Math.round(l.sparsity * 100)}%`);
    cell.style.setProperty('--heat', `${Math.round(Math.min(1, l.fidelity) * 100)}%`);
    cell.append(bar);
    strip.append(cell);
  }
  box.append(strip);
  return box;
}

function saliencyView(r: SpadeResult, vals: number[], signed: boolean): HTMLElement {
  const m = Math.max(1e-30, ...vals.map(Math.abs));
  if (r.input.kind === 'tokens') {
    return h('div', { class: 'tokens' }, ...r.input.tokens.map((t, i) => {
      const v = vals[i]! / m;
      const span = h('span', { class: `tok${signed && v < 0 ? ' neg' : ''}`, title: fmt(vals[i]!) }, t === '\n' ? '⏎' : t === ' ' ? '␣' : t);
      span.style.setProperty('--heat', `${Math.round(Math.abs(v) * 100)}%`);
      return span;
    }));
  }
  const { width, height } = r.input;
  const c = h('canvas', { width, height, class: 'pixels', role: 'img', 'aria-label': 'saliency map' });
  const g = c.getContext('2d');
  if (g) {
    const img = g.createImageData(width, height);
    vals.forEach((v0, i) => {
      const v = v0 / m;
      img.data[4 * i] = v > 0 ? 255 : 0; img.data[4 * i + 2] = v < 0 ? 255 : 0; img.data[4 * i + 1] = 0; img.data[4 * i + 3] = Math.round(Math.abs(v) * 255);
    });
    g.putImageData(img, 0, 0);
  }
  return c;
}

render();
post({ type: 'ready' });

/** min/max without spreading (a spread of 100k+ layers overflows the call stack). */
function lowest(xs: readonly number[]): number { let m = Infinity; for (const x of xs) if (x < m) m = x; return m; }
function highest(xs: readonly number[]): number { let m = -Infinity; for (const x of xs) if (x > m) m = x; return m; }
