// Drives the real language server process (dist/server.js --stdio) over JSON-RPC: diagnostics
// (with the real layer inventory of the tiny LM fixture), completion, hover, formatting, quick fix,
// definition, outline, semantic tokens, inlay hints, and robustness on junk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { LspClient, type PublishedDiagnostics } from './client';
import { buildServer } from './build-server';

let c: LspClient;
const dir = path.join(process.cwd(), 'test', 'lsp');
const uriOf = (name: string) => pathToFileURL(path.join(dir, name)).href;
let version = 0;

before(async () => {
  await buildServer();
  c = await LspClient.start(undefined, { QRECIPE_LSP_DEBOUNCE_MS: '50' });
});
after(async () => { await c.stop(); });

function open(name: string, text: string): string {
  const uri = uriOf(name);
  c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'qrecipe', version: ++version, text } });
  return uri;
}
function change(uri: string, text: string): number {
  c.notify('textDocument/didChange', { textDocument: { uri, version: ++version }, contentChanges: [{ text }] });
  return version;
}
const diagsFor = (uri: string, v?: number) => c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && (v === undefined || p.version === v));
const at = (text: string, needle: string, delta = 0) => {
  const o = text.indexOf(needle) + delta;
  const before = text.slice(0, o).split('\n');
  return { line: before.length - 1, character: before[before.length - 1].length };
};
function applyEdits(text: string, edits: { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string }[]): string {
  const off = (p: { line: number; character: number }) => text.split('\n').slice(0, p.line).reduce((a, l) => a + l.length + 1, 0) + p.character;
  return [...edits].sort((x, y) => off(y.range.start) - off(x.range.start)).reduce((t, e) => t.slice(0, off(e.range.start)) + e.newText + t.slice(off(e.range.end)), text);
}

const MODEL = 'model "../fixtures/tiny-lm/model.onnx"\ndata calib { text "../fixtures/tiny-lm/data/calib.txt"  seqlen 128 }\n';

test('diagnostics: a misspelled key is reported with its range, then cleared when fixed', async () => {
  const text = MODEL + 'quantize gptq { bits 4  group 64  actoder true }\n';
  const wait = diagsFor(uriOf('a.qrecipe'));
  const uri = open('a.qrecipe', text);
  const d = await wait;
  const typo = d.diagnostics.find((x) => x.code === 'QR102');
  assert.ok(typo, JSON.stringify(d.diagnostics));
  assert.deepEqual(typo.range.start, at(text, 'actoder'));
  assert.match(typo.message, /did you mean `actorder`/);
  const fixed = text.replace('actoder', 'actorder');
  const v = change(uri, fixed);
  const d2 = await diagsFor(uri, v);
  assert.deepEqual(d2.diagnostics.map((x) => x.code), []);
});

test('diagnostics: rapid edits publish only for the latest version', async () => {
  const uri = open('b.qrecipe', MODEL);
  await diagsFor(uri);
  const start = c.notifications.length;
  let last = 0;
  for (let i = 0; i < 10; i++) last = change(uri, MODEL + `quantize rtn { bits ${i < 9 ? 9 : 4}  group 64 }\n`);
  const d = await diagsFor(uri, last);
  assert.deepEqual(d.diagnostics, []);
  const published = c.notifications.slice(start).filter((n) => (n.params as PublishedDiagnostics).uri === uri).map((n) => (n.params as PublishedDiagnostics).version);
  assert.ok(published.length < 10, `debounced: ${published.length} publishes for 10 edits`);
  assert.equal(published[published.length - 1], last);
});

test('model-aware diagnostics and the nearest-group quick fix use the real inventory', async () => {
  const text = MODEL + 'quantize gptq {\n  targets "Linear"  ignore "lm_haed"\n  group 128\n}\n';
  const wait = diagsFor(uriOf('c.qrecipe'));
  const uri = open('c.qrecipe', text);
  const d = await wait;
  const codes = d.diagnostics.map((x) => x.code).sort();
  assert.deepEqual(codes, ['QR203', 'QR204'], JSON.stringify(d.diagnostics.map((x) => x.message)));
  const g = d.diagnostics.find((x) => x.code === 'QR204')!;
  assert.match(g.message, /layers\.0\.self_attn\.q_proj/);
  const actions = await c.request<{ title: string; edit: { changes: Record<string, never[]> } }[]>('textDocument/codeAction', {
    textDocument: { uri }, range: g.range, context: { diagnostics: [g] },
  });
  const fix = actions.find((a) => a.title === 'Use group 64');
  assert.ok(fix, JSON.stringify(actions.map((a) => a.title)));
  const fixedText = applyEdits(text, fix.edit.changes[uri]);
  assert.match(fixedText, /group 64\n/);
  const drop = (await c.request<{ title: string; edit: { changes: Record<string, never[]> } }[]>('textDocument/codeAction', {
    textDocument: { uri }, range: d.diagnostics.find((x) => x.code === 'QR203')!.range, context: { diagnostics: [] },
  })).find((a) => a.title.startsWith('Change to'));
  assert.ok(drop);
  assert.match(applyEdits(text, drop.edit.changes[uri]), /ignore "lm_head"/);
});

test('completion: keywords, keys, valid group sizes, layer names, data sets', async () => {
  const text = MODEL + 'quantize gptq on  {\n  targets "Linear"\n  \n  group \n  ignore "\n}\n';
  const uri = open('d.qrecipe', text);
  await diagsFor(uri);
  type Item = { label: string; textEdit?: { newText: string } };
  const complete = async (pos: { line: number; character: number }) => {
    const r = await c.request<Item[] | { items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: pos });
    return (Array.isArray(r) ? r : r.items).map((i) => i.label);
  };
  const top = await complete({ line: 0, character: 0 });
  assert.ok(top.includes('quantize') && top.includes('data') && top.includes('export'), top.join());
  const data = await complete(at(text, 'on  {', 3));
  assert.deepEqual(data, ['calib']);
  const keys = await complete({ line: at(text, '  \n  group').line, character: 2 });
  assert.ok(keys.includes('bits') && keys.includes('scheme') && keys.includes('targets') && !keys.includes('sparsity'), keys.join());
  const groups = await complete(at(text, 'group \n', 6));
  assert.ok(groups.includes('64') && groups.includes('channel') && !groups.includes('128'), groups.join());
  const layers = await complete(at(text, 'ignore "', 8));
  assert.ok(layers.includes('lm_head') && layers.includes('layers.0.mlp.up_proj'), layers.slice(0, 10).join());
});

test('completion: file paths inside a path string', async () => {
  const text = 'model "../fixtures/tiny-lm/"\n';
  const uri = open('p.qrecipe', text);
  const r = await c.request<{ label: string }[] | { items: { label: string }[] }>('textDocument/completion', { textDocument: { uri }, position: at(text, 'tiny-lm/', 8) });
  const labels = (Array.isArray(r) ? r : r.items).map((i) => i.label);
  assert.ok(labels.includes('model.onnx') && labels.includes('data/'), labels.join());
  assert.ok(!labels.includes('train.py'), 'a model path lists .onnx files and folders only');
});

test('hover: method docs cite the paper; a pattern lists the layers it matches', async () => {
  const text = MODEL + 'quantize gptq { targets "re:layers\\.0\\..*"  group 64 }\n';
  const uri = open('e.qrecipe', text);
  await diagsFor(uri);
  type H = { contents: { value: string } } | null;
  const h1 = await c.request<H>('textDocument/hover', { textDocument: { uri }, position: at(text, 'gptq', 1) });
  assert.match(h1!.contents.value, /arXiv:2210\.17323/);
  const h2 = await c.request<H>('textDocument/hover', { textDocument: { uri }, position: at(text, 're:layers', 2) });
  assert.match(h2!.contents.value, /Matches \*\*7\*\* layers/);
  assert.match(h2!.contents.value, /layers\.0\.mlp\.down_proj/);
  const h3 = await c.request<H>('textDocument/hover', { textDocument: { uri }, position: at(text, 'group', 1) });
  assert.match(h3!.contents.value, /\*\*group\*\*/);
});

test('formatting: canonical layout, idempotent', async () => {
  const text = 'model   "m.onnx"\n\n\n\nquantize rtn {bits 4    group 64\n      scheme symmetric}\nevaluate {size}';
  const uri = open('f.qrecipe', text);
  type E = { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string };
  const edits = await c.request<E[]>('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
  const out = applyEdits(text, edits);
  assert.equal(out, 'model "m.onnx"\n\nquantize rtn {\n  bits 4  group 64\n  scheme symmetric\n}\nevaluate { size }\n');
  change(uri, out);
  const again = await c.request<E[]>('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
  assert.deepEqual(again, []);
});

test('definition, outline, semantic tokens, folding and inlay hints', async () => {
  const text = MODEL + 'quantize gptq on calib {\n  group 64\n}\nevaluate { size }\n';
  const uri = open('g.qrecipe', text);
  await diagsFor(uri);
  const def = await c.request<{ range: { start: { line: number } } }>('textDocument/definition', { textDocument: { uri }, position: at(text, 'on calib', 4) });
  assert.equal(def.range.start.line, 1);
  const syms = await c.request<{ name: string }[]>('textDocument/documentSymbol', { textDocument: { uri } });
  assert.deepEqual(syms.map((s) => s.name), ['model "../fixtures/tiny-lm/model.onnx"', 'data calib', 'quantize gptq on calib', 'evaluate']);
  const sem = await c.request<{ data: number[] }>('textDocument/semanticTokens/full', { textDocument: { uri } });
  assert.equal(sem.data.length % 5, 0);
  assert.ok(sem.data.length / 5 >= 12);
  const folds = await c.request<{ startLine: number; endLine: number }[]>('textDocument/foldingRange', { textDocument: { uri } });
  assert.ok(folds.some((f) => f.startLine === 2));
  const hints = await c.request<{ label: string }[]>('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: 20, character: 0 } } });
  assert.equal(hints.length, 1);
  assert.match(hints[0].label, /bits\/weight/);
});

test('a model file that changes on disk refreshes the inventory and the diagnostics', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-lsp-'));
  try {
    const model = path.join(tmp, 'model.onnx');
    copyFileSync(path.join(dir, '..', 'fixtures', 'tiny-lm', 'model.onnx'), model);
    const uri = pathToFileURL(path.join(tmp, 'r.qrecipe')).href;
    const first = diagsFor(uri);
    c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'qrecipe', version: ++version, text: 'model "model.onnx"\nquantize rtn { group 64 }\n' } });
    assert.deepEqual((await first).diagnostics, []);
    const broken = c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.diagnostics.some((d) => d.code === 'QR207'));
    writeFileSync(model, 'not an onnx model');
    await broken;
    const fixed = c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.diagnostics.length === 0);
    copyFileSync(path.join(dir, '..', 'fixtures', 'tiny-lm', 'model.onnx'), model);
    await fixed;
    c.notify('textDocument/didClose', { textDocument: { uri } });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('custom request qrecipe/resolvedRecipe returns the resolved recipe with per-layer parameters', async () => {
  const text = MODEL + 'quantize gptq on calib { targets "Linear"  ignore "lm_head"  group 64  override "layers.0.*" { bits 8 } }\n';
  const uri = open('r.qrecipe', text);
  type R = { recipe: { model?: { path: string }; stages: { kind: string; perLayer?: Record<string, { bits: number }>; selection?: { layers?: string[] } }[] }; errors: number };
  const r = await c.request<R>('qrecipe/resolvedRecipe', { uri });
  assert.equal(r.errors, 0);
  assert.ok(r.recipe.model?.path.endsWith(path.join('fixtures', 'tiny-lm', 'model.onnx')));
  const q = r.recipe.stages[0];
  assert.equal(q.kind, 'quantize');
  assert.equal(q.selection?.layers?.length, 28);
  assert.equal(q.perLayer?.['layers.0.mlp.up_proj'].bits, 8);
  assert.equal(q.perLayer?.['layers.1.mlp.up_proj'].bits, 4);
});

test('junk input: the server answers every request and stays alive', async () => {
  const junk = '\u0000{{}}"unterminated\n quantize } { ] re:( \uFFFF model model model 1e999999 2:0 -\n';
  const uri = open('h.qrecipe', junk);
  const d = await diagsFor(uri);
  assert.ok(d.diagnostics.length > 0);
  for (const m of ['textDocument/hover', 'textDocument/completion', 'textDocument/definition']) {
    for (let ch = 0; ch < 12; ch += 3) await c.request(m, { textDocument: { uri }, position: { line: 1, character: ch } });
  }
  await c.request('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
  await c.request('textDocument/semanticTokens/full', { textDocument: { uri } });
  const syms = await c.request<unknown[]>('textDocument/documentSymbol', { textDocument: { uri } });
  assert.ok(Array.isArray(syms));
});

test('incremental edits (ranged changes): each version gets the diagnostics of a fresh open of its text', async () => {
  // the server re-analyses from the previous analysis (items taken over or moved); a fresh document
  // with the same text is analysed from scratch
  let text = MODEL + [
    'quantize gptq {\n  targets "Linear"  ignore "lm_head"\n  bits 4  group 64\n  override "layers.0.*" { bits 8 }\n}\n',
    'prune wanda {\n  sparsity 50%  pattern 2:4\n}\n',
    'quantize rtn {\n  bits 4  group 48\n  bits 3\n}\n',
  ].join('');
  const uri = open('inc.qrecipe', text);
  await diagsFor(uri);
  const edits: [string, number, string][] = [ // [anchor, offset from it, inserted text] or deletion when the text is '-N'
    ['quantize gptq', 0, '# tuned\n'], ['group 64', 8, '4'], ['group 644', 8, '-1'], ['sparsity 50%', 9, '6'], ['bits 3', 0, '\n'],
    ['prune wanda', 0, '}\n'], ['}\nprune wanda', 0, '-2'], ['override "layers.0.*"', 17, '1'], ['lm_head', 2, 'x'], ['group 48', 0, 'group 32  '],
  ];
  for (const [k, [anchor, delta, ins]] of edits.entries()) {
    const o = text.indexOf(anchor) + delta;
    assert.ok(o >= delta, `anchor ${anchor}`);
    const del = ins.startsWith('-') ? Number(ins.slice(1)) : 0;
    const newText = del ? '' : ins;
    const pos = (off: number) => { const b = text.slice(0, off).split('\n'); return { line: b.length - 1, character: b[b.length - 1].length }; };
    const range = { start: pos(o), end: pos(o + del) };
    text = text.slice(0, o) + newText + text.slice(o + del);
    c.notify('textDocument/didChange', { textDocument: { uri, version: ++version }, contentChanges: [{ range, text: newText }] });
    const v = version;
    const got = await diagsFor(uri, v);
    const freshUri = uriOf(`inc-fresh-${k}.qrecipe`);
    const wait = diagsFor(freshUri);
    open(`inc-fresh-${k}.qrecipe`, text);
    const want = await wait;
    assert.deepEqual(got.diagnostics, want.diagnostics, `after edit ${k} (${JSON.stringify(anchor)}): ${JSON.stringify(text)}`);
  }
});
