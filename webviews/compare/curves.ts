// The Compare view's fine-tuning curves: the distillation loss of each run's first `finetune` stage
// per step (run.json `finetune[0].curve`), one polyline per run, with the step and the KL on axes.
import type { CompareData } from '../protocol';
import { s } from '../shared/host';
import { formatTick, niceTicks } from '../../language-server/core/format/numbers';

const COLORS = ['--vscode-charts-blue', '--vscode-charts-purple', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-red', '--vscode-charts-yellow'];

export function lossCurves(d: CompareData): SVGElement | undefined {
  const curves = d.curves ?? [];
  if (!curves.length) return undefined;
  const W = 560, H = 260, L = 64, B = 40, T = 16, R = 24;
  const svg = s('svg', { class: 'scatter', width: W, height: H, role: 'img', 'aria-label': 'fine-tuning loss per step' });
  const steps = Math.max(...curves.flatMap((c) => c.points.map((p) => p[0])));
  const losses = curves.flatMap((c) => c.points.map((p) => p[1]));
  const ya = 0, yb = Math.max(...losses) * 1.05 || 1;
  const X = (v: number): number => L + ((v - 1) / Math.max(1, steps - 1)) * (W - L - R);
  const Y = (v: number): number => H - B - ((v - ya) / (yb - ya)) * (H - B - T);
  svg.append(s('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  const xt = niceTicks(1, steps, 5), yt = niceTicks(ya, yb, 4);
  const xs1 = xt.length > 1 ? xt[1]! - xt[0]! : 1, ys1 = yt.length > 1 ? yt[1]! - yt[0]! : 1;
  for (const v of xt) svg.append(s('text', { x: X(v), y: H - B + 16, 'text-anchor': 'middle' }, formatTick(v, xs1)));
  for (const v of yt) svg.append(s('line', { class: 'grid', x1: L, y1: Y(v), x2: W - R, y2: Y(v) }), s('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, formatTick(v, ys1)));
  svg.append(s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, 'step'));
  svg.append(s('text', { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, 'text-anchor': 'middle' }, 'KL to the original (nats)'));
  curves.forEach((c, i) => {
    const color = `var(${COLORS[i % COLORS.length]})`;
    svg.append(s('polyline', { points: c.points.map(([x, y]) => `${X(x)},${Y(y)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 1.5 },
      s('title', {}, `${c.label}: KL ${c.points[0]![1].toFixed(4)} at step 1, ${c.points[c.points.length - 1]![1].toFixed(4)} at step ${c.points[c.points.length - 1]![0]}`)));
    svg.append(s('text', { x: W - R - 4, y: T + 14 * (i + 1), 'text-anchor': 'end', fill: color }, c.label));
  });
  return svg;
}
