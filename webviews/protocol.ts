/**
 * The one message protocol between the extension host and its webviews (Sensitivity, Compare).
 * Both sides import this file: the extension posts `ToWebview` messages and receives `FromWebview`
 * ones; every message is validated on arrival with `isToWebview` / `isFromWebview` before use.
 * Requests that expect an answer carry `requestId`; the answer carries `inReplyTo`.
 */
import type { Comparison } from '../language-server/core/runs/compare';
import type { Allocation, Budget, FrontierPointView, LayerSensitivity, SensitivityMetric, SensitivityViewData, SpadeResult } from '../language-server/core/sensitivity/types';

export type { Allocation, Budget, FrontierPointView, LayerSensitivity, SensitivityMetric, SensitivityViewData, SpadeResult };

// ---- to the webview -------------------------------------------------------------------------

/** The Compare view's whole content. */
export interface CompareData {
  comparison: Comparison;
  /** Per run: model bytes after compression and the main quality metric, for the scatter. */
  points: { runId: string; label: string; bytes: number; quality: number; qualityName: string; lowerIsBetter: boolean }[];
}

export type ToWebview =
  | { type: 'compare/data'; data: CompareData }
  /** The Sensitivity view's content (sent after `ready` and after every recompute). */
  | { type: 'sensitivity/data'; data: SensitivityViewData }
  /** Engine progress or failure while the data is (re)computed; `idle` clears it. */
  | { type: 'sensitivity/status'; state: 'computing' | 'error' | 'idle'; message: string; done?: number; total?: number }
  /** Answer to `sensitivity/solve`: the optimal allocation, and the frontier when the pins changed it. */
  | { type: 'sensitivity/solved'; inReplyTo: number; allocation: Allocation; frontier?: { bytes: FrontierPointView[]; bits: FrontierPointView[] } }
  | { type: 'reply'; inReplyTo: number; ok: boolean; error?: string; value?: unknown }
  | { type: 'theme-changed' };

// ---- from the webview -----------------------------------------------------------------------

export type FromWebview =
  | { type: 'ready' }
  | { type: 'compare/open-recipe-diff'; runIds: [string, string] }
  | { type: 'compare/reveal-run'; runId: string }
  /** Re-solve the allocation at a budget with the view's pins (layer → width) and metric. */
  | { type: 'sensitivity/solve'; requestId: number; budget: Budget; pins: Record<string, number>; metric: SensitivityMetric }
  /** Show the recipe lines that select a layer. */
  | { type: 'sensitivity/reveal-layer'; layer: string }
  /** Write these widths as per-layer overrides of the allocate stage (one undoable edit). */
  | { type: 'sensitivity/write-allocation'; bits: Record<string, number> }
  /** Run the engine again (cache bypassed), optionally with another metric. */
  | { type: 'sensitivity/recompute'; metric?: SensitivityMetric }
  /** Run SPADE on one of `spadeSamples`. */
  | { type: 'sensitivity/spade'; sample: string }
  | { type: 'log'; level: 'info' | 'warning' | 'error'; message: string };

const toTypes = new Set(['compare/data', 'sensitivity/data', 'sensitivity/status', 'sensitivity/solved', 'reply', 'theme-changed']);
const fromTypes = new Set(['ready', 'compare/open-recipe-diff', 'compare/reveal-run', 'sensitivity/solve', 'sensitivity/reveal-layer',
  'sensitivity/write-allocation', 'sensitivity/recompute', 'sensitivity/spade', 'log']);
/** Metric names the view may ask for; kept equal to the engine's SENSITIVITY_METRICS (unit/sensitivity checks). */
export const METRIC_NAMES: readonly SensitivityMetric[] = ['gradient', 'taylor', 'fisher', 'hessian', 'measured'];
const METRICS = new Set<string>(METRIC_NAMES);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isBudget(v: unknown): v is Budget {
  return isObject(v) && ((v.kind === 'bytes' && typeof v.bytes === 'number' && v.bytes >= 0) || (v.kind === 'bits' && typeof v.bits === 'number' && v.bits >= 0));
}

/** Layer name → integer width 1..16. */
function isBitsMap(v: unknown): v is Record<string, number> {
  return isObject(v) && Object.values(v).every((b) => Number.isInteger(b) && (b as number) >= 1 && (b as number) <= 16);
}

function isAllocation(v: unknown): v is Allocation {
  return isObject(v) && Array.isArray(v.bits) && v.bits.every((b) => typeof b === 'number') && typeof v.bytes === 'number'
    && typeof v.averageBits === 'number' && typeof v.predicted === 'number' && typeof v.feasible === 'boolean';
}

function isViewData(v: unknown): v is SensitivityViewData {
  if (!isObject(v) || !isObject(v.result) || !isObject(v.frontier) || !isObject(v.ranges) || !Array.isArray(v.spade)) return false;
  const layers = v.result.layers;
  return Array.isArray(layers) && layers.every((l) => isObject(l) && typeof l.name === 'string' && Array.isArray(l.candidates)
    && Array.isArray(l.bytes) && l.bytes.length === l.candidates.length && isObject(l.scores));
}

export function isToWebview(v: unknown): v is ToWebview {
  if (!isObject(v) || typeof v.type !== 'string' || !toTypes.has(v.type)) return false;
  switch (v.type) {
    case 'sensitivity/data':
      return isViewData(v.data);
    case 'sensitivity/status':
      return typeof v.message === 'string' && (v.state === 'computing' || v.state === 'error' || v.state === 'idle');
    case 'sensitivity/solved':
      return typeof v.inReplyTo === 'number' && isAllocation(v.allocation);
    default:
      return true;
  }
}

export function isFromWebview(v: unknown): v is FromWebview {
  if (!isObject(v) || typeof v.type !== 'string' || !fromTypes.has(v.type)) return false;
  switch (v.type) {
    case 'compare/open-recipe-diff':
      return Array.isArray(v.runIds) && v.runIds.length === 2 && v.runIds.every((x) => typeof x === 'string');
    case 'compare/reveal-run':
      return typeof v.runId === 'string';
    case 'sensitivity/solve':
      return typeof v.requestId === 'number' && isBudget(v.budget) && isBitsMap(v.pins) && typeof v.metric === 'string' && METRICS.has(v.metric);
    case 'sensitivity/reveal-layer':
      return typeof v.layer === 'string';
    case 'sensitivity/write-allocation':
      return isBitsMap(v.bits) && Object.keys(v.bits).length > 0;
    case 'sensitivity/recompute':
      return v.metric === undefined || (typeof v.metric === 'string' && METRICS.has(v.metric));
    case 'sensitivity/spade':
      return typeof v.sample === 'string';
    case 'log':
      return typeof v.message === 'string';
    default:
      return true;
  }
}
