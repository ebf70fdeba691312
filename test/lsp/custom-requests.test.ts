// The custom LSP methods of core/protocol/lsp.ts against the real server process: each one declared
// is answered (declared = used), the model summary reads float and broken models, the scaffold
// writes a recipe, and writing an allocation back leaves a recipe that checks clean (no QR206/QR209:
// the budget follows the allocation). The Sensitivity CodeLens comes from the server too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { LspClient, type PublishedDiagnostics } from './client';
import { buildServer } from './build-server';
import { CUSTOM_REQUESTS, type AllocateStageInfo, type AllocationEditsResult, type ModelSummaryResult, type ResolvedRecipeResult, type ScaffoldResult } from '../../language-server/core/protocol/lsp';

let c: LspClient;
const dir = path.join(process.cwd(), 'test', 'lsp');
const tinyLm = path.join(process.cwd(), 'test', 'fixtures', 'tiny-lm', 'model.onnx');
let version = 100;

before(async () => {
  await buildServer();
  c = await LspClient.start(undefined, { QRECIPE_LSP_DEBOUNCE_MS: '50' });
});
after(async () => { await c.stop(); });

function open(name: string, text: string): string {
  const uri = pathToFileURL(path.join(dir, name)).href;
  c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'qrecipe', version: ++version, text } });
  return uri;
}
type Range = { start: { line: number; character: number }; end: { line: number; character: number } };
function applyEdits(text: string, edits: { range: Range; newText: string }[]): string {
  const off = (p: { line: number; character: number }): number => text.split('\n').slice(0, p.line).reduce((a, l) => a + l.length + 1, 0) + p.character;
  return [...edits].sort((x, y) => off(y.range.start) - off(x.range.start)).reduce((t, e) => t.slice(0, off(e.range.start)) + e.newText + t.slice(off(e.range.end)), text);
}

const MQ = `model "../fixtures/tiny-lm/model.onnx"
data calib { text "../fixtures/tiny-lm/data/calib.txt"  samples 8  seqlen 128 }
allocate llm-mq on calib {
  targets "re:layers\\..*_proj"
  budget 3bits
  candidates 2 4
  group 64
  override "layers.0.*" { bits 4 } # keep the first block at 4 bits
}
`;

test('every declared custom request is answered by the server (none is MethodNotFound)', async () => {
  const uri = open('declared.qrecipe', MQ);
  const params: Record<string, unknown> = {
    'qrecipe/resolvedRecipe': { uri }, 'qrecipe/modelSummary': { path: tinyLm }, 'qrecipe/allocateStages': { uri },
    'qrecipe/scaffoldRecipe': { model: tinyLm, recipe: path.join(dir, 'x.qrecipe') }, 'qrecipe/allocationEdits': { uri, stage: 0, bits: { 'layers.1.mlp.up_proj': 2 } },
  };
  for (const t of CUSTOM_REQUESTS) {
    assert.ok(t.method in params, `a test call for ${t.method}`);
    await c.request(t.method, params[t.method]); // rejects with -32601 when no handler is registered
  }
});

test('modelSummary: the float layers of the tiny LM; a broken file is an answer naming it, not a failure', async () => {
  const r = await c.request<ModelSummaryResult>('qrecipe/modelSummary', { path: tinyLm });
  assert.ok('summary' in r);
  assert.equal(r.summary.layers.length, 30);
  assert.equal(r.summary.quantized.length, 0);
  const junk = path.join(mkdtempSync(path.join(os.tmpdir(), 'lsp-junk-')), 'junk.onnx');
  writeFileSync(junk, 'not a model');
  const bad = await c.request<ModelSummaryResult>('qrecipe/modelSummary', { path: junk });
  assert.ok('error' in bad && bad.error.includes(junk), JSON.stringify(bad));
});

test('scaffoldRecipe: a recipe for the model with the data files given', async () => {
  const r = await c.request<ScaffoldResult>('qrecipe/scaffoldRecipe', { model: tinyLm, recipe: path.join(dir, 'new.qrecipe'), data: { calib: '../fixtures/tiny-lm/data/calib.txt', heldout: '../fixtures/tiny-lm/data/heldout.txt' } });
  assert.ok('text' in r, JSON.stringify(r));
  assert.match(r.text, /^model "\.\.\/fixtures\/tiny-lm\/model\.onnx"$/m);
  assert.match(r.text, /data heldout \{ text "\.\.\/fixtures\/tiny-lm\/data\/heldout\.txt"/);
});

test('the Sensitivity CodeLens is served on each allocate stage, and allocateStages locates it and its overrides', async () => {
  const uri = open('lens.qrecipe', MQ);
  const lenses = await c.request<{ range: Range; command: { command: string; arguments: unknown[] } }[]>('textDocument/codeLens', { textDocument: { uri } });
  assert.equal(lenses.length, 1);
  assert.equal(lenses[0]!.command.command, 'qrecipe.showSensitivity');
  assert.equal(lenses[0]!.range.start.line, 2);
  const stages = await c.request<AllocateStageInfo[]>('qrecipe/allocateStages', { uri });
  assert.equal(stages.length, 1);
  assert.equal(stages[0]!.line, 2);
  assert.deepEqual(stages[0]!.overrides.map((o) => [o.pattern, o.range.start.line]), [['layers.0.*', 7]]);
});

test('writing an allocation back leaves a recipe that checks clean: the budget becomes the allocation\'s average width', async () => {
  const uri = open('alloc.qrecipe', MQ);
  const resolved = await c.request<ResolvedRecipeResult>('qrecipe/resolvedRecipe', { uri });
  const stage = resolved.recipe.stages[0]!;
  assert.equal(stage.kind, 'allocate');
  const layers = stage.kind === 'allocate' ? stage.selection.layers ?? [] : [];
  assert.equal(layers.length, 28);
  // an allocation that is not the recipe's 3 bits: 2 and 4 bits in turn (layers.0 stays at its pinned 4;
  // MatMulNBits, the format sizes are counted in, stores 2, 4 or 8 bits: an allocation offers no 3)
  const bits = Object.fromEntries(layers.map((n, i) => [n, n.startsWith('layers.0.') ? 4 : i % 2 ? 2 : 4]));
  const r = await c.request<AllocationEditsResult>('qrecipe/allocationEdits', { uri, stage: 0, bits });
  const params = (n: string): number => (/(q|k|v|o)_proj$/.test(n) ? 192 * 192 : 192 * 512);
  const average = layers.reduce((a, n) => a + bits[n]! * params(n), 0) / layers.reduce((a, n) => a + params(n), 0);
  assert.match(r.budget, /^[\d.]+bits$/);
  assert.ok(Math.abs(parseFloat(r.budget) - average) < 1e-9, `${r.budget} vs ${average}`);
  const edited = applyEdits(MQ, r.edits);
  assert.match(edited, new RegExp(`budget ${r.budget.replace('.', '\\.')}`));
  assert.equal((edited.match(/override "layers\.\d+\.[a-z_.]+" \{ bits \d \}/g) ?? []).length, 28);
  const v = ++version;
  const published = c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.version === v, 20_000);
  c.notify('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ text: edited }] });
  const d = await published;
  assert.deepEqual(d.diagnostics.map((x) => `${x.code} ${x.message}`), [], 'no error, no QR206/QR209 after the write-back');
});
