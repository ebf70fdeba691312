// Colour scales, layer-name shortening and the metric explanations of the Sensitivity view (numbers
// and sizes print through core/format/numbers.ts, as everywhere else).
import { formatNumber } from '../../language-server/core/format/numbers';
import type { SensitivityMetric } from '../protocol';

/** A compact number: 3 significant digits, exponent form outside [1e-3, 1e5). */
export function fmt(v: number | undefined): string {
  return formatNumber(v, 3);
}

/** What each sensitivity metric measures, in words (tooltips and the Δloss explanation). */
export const METRIC_HELP: Record<SensitivityMetric, string> = {
  gradient: 'first-order estimate |⟨gradient, weight change⟩| from calibration gradients',
  taylor: 'the first-order term per calibration window, in absolute value, averaged',
  fisher: '½·Σ Fisher information × squared weight change, from calibration gradients',
  hessian: '½·tr(ΔW H ΔWᵀ) with the calibration Hessian H = 2XᵀX/n: the output error the weight change causes',
  measured: 'the KL divergence (nats per token) from the original model when this layer alone is quantised',
};

/**
 * A layer name split so that a narrow column cuts its middle, not the part that tells layers apart:
 * the head ("layers.11.self_attn.") shrinks with an ellipsis, the tail ("q_proj") always shows; the
 * full name is in the row's tooltip.
 */
export function nameParts(name: string): { head: string; tail: string } {
  const cut = name.lastIndexOf('.', name.length - 2);
  return cut > 0 ? { head: name.slice(0, cut + 1), tail: name.slice(cut + 1) } : { head: '', tail: name };
}

/** Position of a positive score on a log scale between 10^lo and 10^hi, in [0, 1]. */
export function heat(v: number, lo: number, hi: number): number {
  if (!(v > 0)) return 0;
  const t = (Math.log10(v) - lo) / (hi - lo || 1);
  return Math.max(0, Math.min(1, t));
}

/** CSS class of a bit width (colours come from theme chart variables in styles.ts). */
export function bitsClass(bits: number): string {
  return bits <= 2 ? 'b2' : bits === 3 ? 'b3' : bits === 4 ? 'b4' : bits < 8 ? 'b5' : 'b8';
}
