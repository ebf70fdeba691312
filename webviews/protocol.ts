/**
 * The one message protocol between the extension host and its webviews (Sensitivity, Compare).
 * Both sides import this file: the extension posts `ToWebview` messages and receives `FromWebview`
 * ones; every message is validated on arrival with `isToWebview` / `isFromWebview` before use.
 * Requests that expect an answer carry `requestId`; the answer carries `inReplyTo`.
 */
import type { Comparison } from '../language-server/core/runs/compare';

// ---- to the webview -------------------------------------------------------------------------

/** The Compare view's whole content. */
export interface CompareData {
  comparison: Comparison;
  /** Per run: model bytes after compression and the main quality metric, for the scatter. */
  points: { runId: string; label: string; bytes: number; quality: number; qualityName: string; lowerIsBetter: boolean }[];
}

export type ToWebview =
  | { type: 'compare/data'; data: CompareData }
  | { type: 'sensitivity/data'; data: unknown }
  | { type: 'reply'; inReplyTo: number; ok: boolean; error?: string; value?: unknown }
  | { type: 'theme-changed' };

// ---- from the webview -----------------------------------------------------------------------

export type FromWebview =
  | { type: 'ready' }
  | { type: 'compare/open-recipe-diff'; runIds: [string, string] }
  | { type: 'compare/reveal-run'; runId: string }
  | { type: 'sensitivity/request'; requestId: number; body: unknown }
  | { type: 'log'; level: 'info' | 'warning' | 'error'; message: string };

const toTypes = new Set(['compare/data', 'sensitivity/data', 'reply', 'theme-changed']);
const fromTypes = new Set(['ready', 'compare/open-recipe-diff', 'compare/reveal-run', 'sensitivity/request', 'log']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isToWebview(v: unknown): v is ToWebview {
  return isObject(v) && typeof v.type === 'string' && toTypes.has(v.type);
}

export function isFromWebview(v: unknown): v is FromWebview {
  if (!isObject(v) || typeof v.type !== 'string' || !fromTypes.has(v.type)) return false;
  switch (v.type) {
    case 'compare/open-recipe-diff':
      return Array.isArray(v.runIds) && v.runIds.length === 2 && v.runIds.every((x) => typeof x === 'string');
    case 'compare/reveal-run':
      return typeof v.runId === 'string';
    case 'sensitivity/request':
      return typeof v.requestId === 'number';
    case 'log':
      return typeof v.message === 'string';
    default:
      return true;
  }
}
