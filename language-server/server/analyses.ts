/**
 * Runs the analysis of open documents: debounced after edits, one in flight per document (the
 * previous one is aborted), cached by (uri, version), and published only when the document has not
 * changed since (a stale result is never published). Requests share the same cached analysis.
 */
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { analyze, type Analysis } from '../core/recipe/analyze';
import type { AnalysisHost } from '../core/recipe/host';
import { uriToPath } from './uri';
import { diag } from '../core/recipe/diagnostics';
import { MAX_LIVE_RECIPE_BYTES } from '../core/util/limits';

/**
 * A document too large to analyse while typing (a recipe is a page of text; megabytes are junk or a
 * generated file): one warning, nothing parsed, so it cannot keep the server busy.
 */
async function tooLarge(file: string, text: string, host: AnalysisHost): Promise<Analysis> {
  const a = await analyze(file, '', host);
  a.diagnostics.length = 0;
  const mib = (n: number): string => (n / (1 << 20)).toFixed(1);
  a.diagnostics.push(diag('QR132', 0, 0, `This file is ${mib(text.length)} MiB: the editor checks recipes up to ${mib(MAX_LIVE_RECIPE_BYTES)} MiB while typing. Run \`qrecipe check\` on it for the full check.`));
  return a;
}

export interface AnalysisSource {
  get(uri: string): TextDocument | undefined;
}

export class Analyses {
  private readonly cache = new Map<string, { version: number; text: string; promise: Promise<Analysis> }>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly done = new Map<string, Analysis>();

  constructor(
    private readonly docs: AnalysisSource,
    private readonly host: AnalysisHost,
    private readonly publish: (uri: string, analysis: Analysis, version: number) => void,
    private readonly delayMs = 150,
  ) {}

  /** Re-checks a document after `delayMs` of quiet; earlier pending or running checks are dropped. */
  schedule(uri: string, delay = this.delayMs): void {
    clearTimeout(this.timers.get(uri));
    this.timers.set(uri, setTimeout(() => { this.timers.delete(uri); void this.validate(uri); }, delay));
  }

  /** Re-checks every open document (after a model file changed). */
  scheduleAll(uris: string[]): void {
    this.cache.clear();
    for (const u of uris) this.schedule(u, 0);
  }

  private async validate(uri: string): Promise<void> {
    const doc = this.docs.get(uri);
    if (!doc) return;
    const version = doc.version;
    let a: Analysis;
    try { a = await this.get(uri); } catch { return; }
    const now = this.docs.get(uri);
    if (!now || now.version !== version) return; // stale: a newer run will publish
    this.publish(uri, a, version);
  }

  /** The analysis of the document's current version (computed now if not cached). */
  get(uri: string): Promise<Analysis> {
    const doc = this.docs.get(uri);
    if (!doc) return Promise.reject(new Error(`not open: ${uri}`));
    const hit = this.cache.get(uri);
    if (hit && hit.version === doc.version && hit.text === doc.getText()) return hit.promise;
    this.controllers.get(uri)?.abort();
    const ctl = new AbortController();
    this.controllers.set(uri, ctl);
    const text = doc.getText();
    const run = text.length > MAX_LIVE_RECIPE_BYTES ? tooLarge(uriToPath(uri), text, this.host) : analyze(uriToPath(uri), text, this.host, ctl.signal, this.done.get(uri));
    const promise = run.finally(() => {
      if (this.controllers.get(uri) === ctl) this.controllers.delete(uri);
    });
    this.cache.set(uri, { version: doc.version, text, promise });
    promise.then((a) => { this.done.set(uri, a); }, () => { if (this.cache.get(uri)?.promise === promise) this.cache.delete(uri); });
    return promise;
  }

  /** The last finished analysis, whatever its version (completion uses it to stay fast while typing). */
  latest(uri: string): Analysis | undefined {
    return this.done.get(uri);
  }

  forget(uri: string): void {
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    this.controllers.get(uri)?.abort();
    this.controllers.delete(uri);
    this.cache.delete(uri);
    this.done.delete(uri);
  }
}
