/**
 * Handlers of the custom requests declared in core/protocol/lsp.ts, and the Sensitivity CodeLens on
 * `allocate` stages. Everything that reads a model or parses a recipe for the extension runs here,
 * in the server process: the extension host only asks.
 */
import type { CancellationToken, Connection, TextDocuments } from 'vscode-languageserver/node';
import { ResponseError } from 'vscode-languageserver/node';
import type { RequestType } from 'vscode-languageserver-protocol';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import {
  allocateStages, allocationEdits, modelSummary, resolvedRecipe, scaffoldRecipe,
  type AllocateStageInfo, type ModelSummaryResult, type ScaffoldResult,
} from '../core/protocol/lsp';
import { allocateStages as stagesOf, allocationBudget, allocationEdits as editsOf } from '../core/sensitivity/recipe-edit';
import { LineIndex } from '../core/recipe/diagnostics';
import { loadModel } from '../core/model/reader';
import { summarizeModel } from '../core/model/summary';
import { scaffoldText } from '../core/recipe/scaffold';
import type { InventoryCache } from '../core/recipe/inventory-cache';
import type { Analyses } from './analyses';
import type { makeSafe } from './safe';
import { uriToPath } from './uri';

export interface CustomDeps {
  connection: Connection;
  documents: TextDocuments<TextDocument>;
  analyses: Analyses;
  inventories: InventoryCache;
  safe: ReturnType<typeof makeSafe>;
}

export function registerCustomRequests({ connection, documents, analyses, inventories, safe }: CustomDeps): void {
  // The server's vscode-languageserver pins an older copy of the protocol package than the client,
  // so its onRequest does not take the shared RequestType object itself: the handler is typed by it
  // and registered under its method name.
  const on = <P, R>(type: RequestType<P, R, void>, handler: (params: P, token: CancellationToken) => R | Promise<R>): void => {
    connection.onRequest(type.method, (params: P, token: CancellationToken) => Promise.resolve(handler(params, token)) as Promise<unknown>);
  };
  const open = (uri: string): TextDocument => {
    const doc = documents.get(uri);
    if (!doc) throw new ResponseError(-32602, `${uri} is not open in the editor`);
    return doc;
  };

  on(resolvedRecipe, (p, token) => safe('resolvedRecipe', token, null, async () => {
    const a = await analyses.get(p.uri);
    const count = (sev: string): number => a.diagnostics.filter((d) => d.severity === sev).length;
    return { recipe: a.recipe, errors: count('error'), warnings: count('warning') };
  }));

  // A model summary reads the whole graph: errors are answers (the view shows them), not failures.
  on(modelSummary, async (p): Promise<ModelSummaryResult> => {
    try {
      return { summary: summarizeModel(await loadModel(p.path)) };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  });

  on(scaffoldRecipe, async (p): Promise<ScaffoldResult> => {
    const inv = await inventories.get(p.model);
    if (inv instanceof Error) return { error: inv.message };
    return { text: scaffoldText(inv, p.model, p.recipe, p.data) };
  });

  on(allocateStages, (p) => {
    const doc = open(p.uri);
    const text = doc.getText();
    const lines = new LineIndex(text);
    return stagesOf(uriToPath(p.uri), text).map(({ stage, line }, index): AllocateStageInfo => ({
      index, line, range: lines.range(stage.loc.start, stage.loc.end), keywordRange: lines.range(stage.keywordLoc.start, stage.keywordLoc.end),
      overrides: stage.overrides.map((o) => ({ pattern: o.pattern.value, range: lines.range(o.loc.start, o.loc.end) })),
    }));
  });

  on(allocationEdits, async (p) => {
    const doc = open(p.uri);
    const text = doc.getText();
    const a = await analyses.get(p.uri);
    const stage = a.recipe.stages.filter((s) => s.kind === 'allocate')[p.stage];
    if (!stage || stage.kind !== 'allocate') throw new ResponseError(-32602, `${uriToPath(p.uri)} has no allocate stage #${p.stage + 1}`);
    const byName = new Map((a.inventory?.layers ?? []).map((l) => [l.name, l]));
    const layers = (stage.selection.layers ?? []).flatMap((n) => { const l = byName.get(n); return l ? [{ name: n, params: l.params }] : []; });
    const candidates = Object.fromEntries(Object.entries(stage.perLayer ?? {}).map(([n, v]) => [n, v.candidates]));
    const budget = layers.length ? allocationBudget(layers, candidates, p.bits) : undefined;
    let edits;
    try {
      edits = editsOf(uriToPath(p.uri), text, p.bits, p.stage, budget);
    } catch (err) {
      throw new ResponseError(-32602, err instanceof Error ? err.message : String(err));
    }
    const lines = new LineIndex(text);
    return { edits: edits.map((e) => ({ range: lines.range(e.start, e.end), newText: e.text })), budget: budget ?? '' };
  });

  connection.onCodeLens((p, token) => safe('codeLens', token, [], () => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const text = doc.getText();
    const lines = new LineIndex(text);
    return stagesOf(uriToPath(p.textDocument.uri), text).map(({ stage }) => ({
      range: lines.range(stage.keywordLoc.start, stage.keywordLoc.end),
      command: { title: '$(graph) Sensitivity', command: 'qrecipe.showSensitivity', arguments: [p.textDocument.uri] },
    }));
  }));
}
