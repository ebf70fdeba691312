// The webview side of the message protocol: the VS Code API handle, typed post, validated receive,
// persisted state and a nonce'd stylesheet (the CSP allows styles only with the page's nonce).
import { isToWebview, type FromWebview, type ToWebview } from '../protocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

// A webview's own errors would otherwise vanish in its devtools: send them to the extension's log.
window.addEventListener('error', (e) => post({ type: 'log', level: 'error', message: `${e.message} (${e.filename}:${e.lineno})` }));
window.addEventListener('unhandledrejection', (e) => post({ type: 'log', level: 'error', message: `unhandled rejection: ${String(e.reason)}` }));

export function post(message: FromWebview): void {
  api.postMessage(message);
}

export function onMessage(handler: (m: ToWebview) => void): void {
  window.addEventListener('message', (e: MessageEvent) => {
    if (isToWebview(e.data)) handler(e.data);
    else post({ type: 'log', level: 'warning', message: `ignored an unknown message: ${JSON.stringify(e.data).slice(0, 120)}` });
  });
}

export function getState<T>(): T | undefined {
  return (api.getState() as T | undefined) ?? initial<T>();
}

export function setState<T>(state: T): void {
  api.setState(state);
}

/** The state the extension wrote into the page (data-initial), for a first load. */
function initial<T>(): T | undefined {
  const raw = document.body.dataset.initial;
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

export function addStyles(css: string): void {
  const style = document.createElement('style');
  style.nonce = document.body.dataset.nonce ?? '';
  style.textContent = css;
  document.head.appendChild(style);
}

/** Creates an element with attributes and children, without innerHTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | number | boolean | undefined>,
  ...children: (Node | string | undefined)[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Record<string, string | number | boolean | undefined>, ...children: (Node | string | undefined)[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: (Node | string | undefined)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  for (const c of children) if (c !== undefined) el.append(c);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag: string, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}
