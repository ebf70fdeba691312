/**
 * The state one analysis shares between its checks (analyze.ts runs them): the result being built,
 * the lowered files (this one and its imports), how a diagnostic anywhere is reported in this file,
 * the pending file-existence checks, and, once the model's layers are read, the memo of
 * model-aware stage results and the chain of size estimates.
 */
import path from 'node:path';

import type { LayerInfo } from '../../model/types';
import { diag, type Diagnostic } from '../diagnostics';
import type { AnalysisHost } from '../host';
import type { Doc, Loc, Val } from '../lower';
import type { SourceRange } from '../resolved';
import type { ModelMemo, SizeState, StateChange } from '../stage-model';
import type { ExportFormat } from '../../cost/formats';
import type { TokenizerFacts } from '../../model/data/tokenizer';
import type { Analysis } from './types';
import type { Merged } from './imports';

export class Checker {
  readonly file: string;
  readonly doc: Doc;
  readonly diagnostics: Diagnostic[];
  /** Lowered files by absolute path: this file and its imports. */
  readonly docs: Map<string, Doc>;
  /** Imported file → the `use` of this file that brought it in. */
  readonly origin = new Map<string, Val<string>>();
  /** File-existence checks started, awaited before the model is read. */
  readonly fileChecks: Promise<void>[] = [];
  /** Model-aware results of unchanged stages (stage-model.ts); set once the model's layers are read. */
  memo?: ModelMemo;
  layers: LayerInfo[] = [];
  /** "Did you mean" suggestions computed so far (bounded by MAX_SUGGESTIONS). */
  suggestions = 0;
  /** Imported files already loaded in this analysis, with their merged items and QR117 message. */
  readonly imported = new Map<string, { merged: Merged; error?: string }>();
  /** Tokenizers of text data sets that were read (their ids are checked against the model). */
  readonly tokenizers: { dataset: string; facts: TokenizerFacts; at: Val<string> }[] = [];

  constructor(readonly result: Analysis, readonly host: AnalysisHost, readonly signal?: AbortSignal) {
    this.file = result.file;
    this.doc = result.doc;
    this.diagnostics = result.diagnostics;
    this.docs = new Map([[result.file, result.doc]]);
  }

  /** Adds a diagnostic located anywhere: in this file as is, in an import at its `use`. */
  report(at: Loc, d: Diagnostic): void {
    if (at.file === this.file) { this.diagnostics.push(d); return; }
    const use = this.origin.get(at.file);
    const sub = this.docs.get(at.file);
    if (!use || !sub) return;
    const line = sub.lines.position(at.start).line + 1;
    this.diagnostics.push({
      ...d, start: use.loc.start, end: use.loc.end, fixes: undefined, file: at.file,
      message: `${path.relative(path.dirname(this.file), at.file)}:${line}: ${d.message}`,
    });
  }

  rep(l: Loc, code: Parameters<typeof diag>[0], message: string, fixes?: Diagnostic['fixes']): void {
    this.report(l, diag(code, l.start, l.end, message, fixes));
  }

  range(l: Loc): SourceRange {
    const d = this.docs.get(l.file) ?? this.doc;
    return { file: l.file, start: d.lines.position(l.start), end: d.lines.position(l.end) };
  }

  checkAbort(): void { if (this.signal?.aborted) throw new Error('cancelled'); }

  /** Queues a check that the file of `v` exists (QR116 at `v` when not). */
  mustExist(v: Val<string> | undefined, what: string): void {
    if (!v) return;
    this.fileChecks.push(this.host.exists(v.value).then((ok) => {
      if (!ok) this.rep(v.loc, 'QR116', `${what} not found: ${v.value}. Paths are relative to the recipe file.`);
    }));
  }

  /** Records a reference written in the analysed file to `target` (go to definition). */
  refer(v: Val<string>, target: SourceRange): void {
    if (v.loc.file === this.file) this.result.references.push({ start: v.loc.start, end: v.loc.end, target });
  }
}

/**
 * The model's size after each stage (inlay hints), counted by the cost model in the recipe's export
 * format: the bytes of each layer, by position, written only when an estimate is not memoised (see
 * ModelMemo.size).
 */
export class SizeChain {
  private readonly state: SizeState;
  private readonly pending: StateChange[] = [];
  /**
   * The memo key of the stages applied so far: a hash of their ids (two independent 32-bit mixes)
   * and their count, fixed-size, so that 100k stages do not build 100k ever longer keys.
   */
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  private count = 0;

  constructor(private readonly c: Checker, private readonly format: ExportFormat) {
    const memo = c.memo;
    this.state = memo ? memo.initialState() : { bytes: new Float64Array(0), graph: new Float64Array(0), quantized: new Uint8Array(0), rotated: new Uint8Array(0) };
  }

  /** A stage changed the model (its effect is applied when the next estimate needs it). */
  apply(change: StateChange): void {
    this.pending.push(change);
    this.h1 = Math.imul(this.h1 ^ change.id, 0x01000193) >>> 0;
    this.h2 = Math.imul((this.h2 + change.id) ^ (this.h2 >>> 15), 0x2c1b3c6d) >>> 0;
    this.count++;
  }

  /** The estimate after the stages so far, shown at `offset`. */
  snapshot(offset: number, note?: string): void {
    const memo = this.c.memo;
    if (!memo) return;
    this.c.result.estimates.push({ offset, ...memo.size(`${this.count}:${this.h1}:${this.h2}`, this.pending, this.state), format: this.format, ...(note ? { note } : {}) });
  }
}
