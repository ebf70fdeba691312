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
  /** One label per run (comparison order): what differs between them, e.g. "gptq 3b g64". */
  labels: string[];
  /** Per run: model bytes after compression and the main quality metric (one metric for all), for the scatter. */
  points: { runId: string; label: string; bytes: number; quality: number; qualityKey: string; lowerIsBetter: boolean }[];
}

/** Progress of the engine while the Sensitivity data is (re)computed (the runner's progress events). */
export interface EngineProgress {
  done: number;
  total: number;
  /** The phase: "calibration: Hessians", "layer layers.3.mlp.up_proj"... */
  label?: string;
  etaSeconds?: number;
}

export type ToWebview =
  | { type: 'compare/data'; data: CompareData }
  /** The Sensitivity view's content (sent after `ready` and after every recompute). */
  | { type: 'sensitivity/data'; data: SensitivityViewData }
  /** The engine is running (with its progress, when it reported some), failed, or done (`idle` clears it). */
  | { type: 'sensitivity/status'; state: 'computing' | 'error' | 'idle'; message: string; progress?: EngineProgress }
  /** Answer to `sensitivity/solve`: the optimal allocation, and the frontier when the pins changed it. */
  | { type: 'sensitivity/solved'; inReplyTo: number; allocation: Allocation; frontier?: { bytes: FrontierPointView[]; bits: FrontierPointView[] } }
  /** The allocation was written into the recipe, with this budget line. */
  | { type: 'sensitivity/written'; layers: number; budget: string };

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
  /** Stop the engine run in progress (sensitivity or SPADE). */
  | { type: 'sensitivity/cancel' }
  | { type: 'log'; level: 'info' | 'warning' | 'error'; message: string };

const toTypes = new Set(['compare/data', 'sensitivity/data', 'sensitivity/status', 'sensitivity/solved', 'sensitivity/written']);
const fromTypes = new Set(['ready', 'compare/open-recipe-diff', 'compare/reveal-run', 'sensitivity/solve', 'sensitivity/reveal-layer',
  'sensitivity/write-allocation', 'sensitivity/recompute', 'sensitivity/spade', 'sensitivity/cancel', 'log']);
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

function isProgress(v: unknown): v is EngineProgress {
  return isObject(v) && typeof v.done === 'number' && typeof v.total === 'number' && (v.label === undefined || typeof v.label === 'string')
    && (v.etaSeconds === undefined || typeof v.etaSeconds === 'number');
}

function isCompareData(v: unknown): v is CompareData {
  return isObject(v) && isObject(v.comparison) && Array.isArray(v.comparison.runs) && Array.isArray(v.comparison.metrics) && Array.isArray(v.comparison.layers)
    && Array.isArray(v.labels) && v.labels.every((l) => typeof l === 'string') && Array.isArray(v.points)
    && v.points.every((p) => isObject(p) && typeof p.runId === 'string' && typeof p.label === 'string' && typeof p.bytes === 'number' && typeof p.quality === 'number' && typeof p.qualityKey === 'string');
}

export function isToWebview(v: unknown): v is ToWebview {
  if (!isObject(v) || typeof v.type !== 'string' || !toTypes.has(v.type)) return false;
  switch (v.type) {
    case 'compare/data':
      return isCompareData(v.data);
    case 'sensitivity/data':
      return isViewData(v.data);
    case 'sensitivity/status':
      return typeof v.message === 'string' && (v.state === 'computing' || v.state === 'error' || v.state === 'idle') && (v.progress === undefined || isProgress(v.progress));
    case 'sensitivity/written':
      return typeof v.layers === 'number' && typeof v.budget === 'string';
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
