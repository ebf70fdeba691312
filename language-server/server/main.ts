/**
 * The QRecipe language server (bundled to dist/server.js). Works over IPC when the extension starts
 * it with vscode-languageclient and over stdio with `node dist/server.js --stdio` (the transport is
 * picked from the command line by vscode-languageserver). All analysis lives in core/recipe; this
 * file wires requests to it.
 */
import {
  createConnection, ProposedFeatures, StreamMessageReader, StreamMessageWriter, TextDocuments, TextDocumentSyncKind, type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { parse, type ParseResult } from '../core/recipe/parser';
import { LineIndex } from '../core/recipe/diagnostics';
import { format } from '../core/recipe/format';
import { fileSystemHost } from '../core/recipe/host';
import { InventoryCache } from '../core/recipe/inventory-cache';
import { readInventory } from '../core/model/inventory';
import { registerCustomRequests } from './custom-requests';
import { VERSION } from '../core/util/version';
import { Analyses } from './analyses';
import { toLspDiagnostic } from './convert';
import { complete } from './completion';
import { hover } from './hover';
import { folding, symbols } from './outline';
import { legend, semanticTokens } from './semantic-tokens';
import { codeActions } from './code-actions';
import { inlayHints } from './inlay-hints';
import { makeSafe } from './safe';
import { ModelWatcher } from './model-watch';
import { pathToUri, uriToPath } from './uri';
import { MAX_DIAGNOSTICS_SHOWN, MAX_LIVE_RECIPE_BYTES } from '../core/util/limits';
import { WriteRulesOf } from './write-rules';
import { FrameFilter } from './framing';

// Over stdio, frames are checked first (framing.ts): a bad Content-Length must not stall the server.
const connection = process.argv.includes('--stdio')
  ? createConnection(ProposedFeatures.all, new StreamMessageReader(process.stdin.pipe(new FrameFilter((why) => process.stderr.write(`qrecipe-language-server: dropped ${why}\n`)))), new StreamMessageWriter(process.stdout))
  : createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const inventories = new InventoryCache((p) => readInventory(p));
const safe = makeSafe((m) => connection.console.error(m));
const debounceMs = Number(process.env.QRECIPE_LSP_DEBOUNCE_MS ?? 150);

const modelOf = new Map<string, string>(); // uri → model path of its last analysis
const watcher = new ModelWatcher((p) => recheckModels([p]));
const writeRules = new WriteRulesOf();
const analyses = new Analyses(documents, fileSystemHost(inventories.provider, (f) => writeRules.rules(f)), (uri, a, version) => {
  // a file of junk can have 100,000 problems; the first ones are enough to act on
  void connection.sendDiagnostics({ uri, version, diagnostics: a.diagnostics.slice(0, MAX_DIAGNOSTICS_SHOWN).map((d) => toLspDiagnostic(d, a.doc.lines)) });
  if (a.recipe.model) modelOf.set(uri, a.recipe.model.path); else modelOf.delete(uri);
  watcher.set(modelOf.values());
}, debounceMs);

/**
 * Parse of the current text, cached by (uri, version): completion and hover need no full analysis.
 * Each parse starts from the previous one, so typing re-parses only the items it touches.
 */
const parses = new Map<string, { version: number; parse: ParseResult; lines: LineIndex }>();
function parsed(uri: string): { parse: ParseResult; lines: LineIndex; doc: TextDocument } | undefined {
  const doc = documents.get(uri);
  if (!doc) return undefined;
  const hit = parses.get(uri);
  if (hit && hit.version === doc.version) return { ...hit, doc };
  const text = doc.getText();
  if (text.length > MAX_LIVE_RECIPE_BYTES) return undefined; // QR132: not parsed while typing
  const entry = { version: doc.version, parse: parse(text, hit?.parse), lines: new LineIndex(text) };
  parses.set(uri, entry);
  return { ...entry, doc };
}

connection.onInitialize((params): InitializeResult => (writeRules.init(params), {
  capabilities: {
    textDocumentSync: TextDocumentSyncKind.Incremental,
    completionProvider: { triggerCharacters: ['"', '/', ' ', ':'] },
    hoverProvider: true,
    definitionProvider: true,
    documentSymbolProvider: true,
    foldingRangeProvider: true,
    documentFormattingProvider: true,
    codeActionProvider: { codeActionKinds: ['quickfix'] },
    semanticTokensProvider: { legend, full: true },
    inlayHintProvider: true,
    codeLensProvider: { resolveProvider: false },
  },
  serverInfo: { name: 'qrecipe-language-server', version: VERSION },
}));

documents.onDidOpen((e) => analyses.schedule(e.document.uri, 0));
documents.onDidChangeContent((e) => analyses.schedule(e.document.uri));
documents.onDidClose((e) => {
  analyses.forget(e.document.uri);
  parses.delete(e.document.uri);
  modelOf.delete(e.document.uri);
  watcher.set(modelOf.values());
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

function recheckModels(paths?: string[]): void {
  if (paths?.length) for (const p of paths) inventories.invalidate(p);
  else inventories.invalidate();
  analyses.scheduleAll(documents.all().map((d) => d.uri));
}
connection.onDidChangeWatchedFiles((e) => {
  const models = e.changes.filter((c) => /\.(onnx|data|onnx_data|bin)$/i.test(c.uri)).map((c) => uriToPath(c.uri));
  const recipes = e.changes.some((c) => c.uri.endsWith('.qrecipe'));
  if (models.length || recipes) recheckModels(models.length ? models : undefined);
});
registerCustomRequests({ connection, documents, analyses, inventories, safe });

connection.onCompletion((p, token) => safe('completion', token, [], async () => {
  const cur = parsed(p.textDocument.uri);
  if (!cur) return [];
  const a = analyses.latest(p.textDocument.uri) ?? await analyses.get(p.textDocument.uri).catch(() => undefined);
  return complete(cur.parse, cur.lines, cur.lines.offset(p.position), uriToPath(p.textDocument.uri), a);
}));

connection.onHover((p, token) => safe('hover', token, null, async () => {
  const cur = parsed(p.textDocument.uri);
  if (!cur) return null;
  const a = await analyses.get(p.textDocument.uri).catch(() => analyses.latest(p.textDocument.uri));
  return hover(cur.parse, cur.lines, cur.lines.offset(p.position), a);
}));

connection.onDefinition((p, token) => safe('definition', token, null, async () => {
  const a = await analyses.get(p.textDocument.uri);
  const o = a.doc.lines.offset(p.position);
  const r = a.references.find((x) => o >= x.start && o <= x.end);
  if (!r) return null;
  return { uri: pathToUri(r.target.file), range: { start: r.target.start, end: r.target.end } };
}));

connection.onDocumentSymbol((p, token) => safe('symbols', token, [], () => {
  const cur = parsed(p.textDocument.uri);
  return cur ? symbols(cur.parse, cur.lines) : [];
}));

connection.onFoldingRanges((p, token) => safe('folding', token, [], () => {
  const cur = parsed(p.textDocument.uri);
  return cur ? folding(cur.parse, cur.lines) : [];
}));

connection.onDocumentFormatting((p, token) => safe('formatting', token, [], () => {
  const cur = parsed(p.textDocument.uri);
  if (!cur) return [];
  const text = cur.doc.getText();
  const out = format(text);
  if (out === undefined || out === text) return [];
  return [{ range: cur.lines.range(0, text.length), newText: out }];
}));

connection.onCodeAction((p, token) => safe('codeAction', token, [], async () => {
  const a = await analyses.get(p.textDocument.uri);
  return codeActions(p.textDocument.uri, a, p.range);
}));

connection.languages.semanticTokens.on((p, token) => safe('semanticTokens', token, { data: [] }, () => {
  const cur = parsed(p.textDocument.uri);
  return { data: cur ? semanticTokens(cur.parse, cur.lines) : [] };
}));

connection.languages.inlayHint.on((p, token) => safe('inlayHints', token, [], async () => {
  const a = await analyses.get(p.textDocument.uri);
  return inlayHints(a, p.range);
}));

connection.onShutdown(() => watcher.dispose());

documents.listen(connection);
connection.listen();
