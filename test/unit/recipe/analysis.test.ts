// Semantic analysis against synthetic inventories, including the llm-compressor user errors the
// editor must catch before any run (one test each).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { analyze } from '../../../language-server/core/recipe/analyze';
import type { Diagnostic } from '../../../language-server/core/recipe/diagnostics';
import { layer, memoryHost, tinyLm } from './synthetic';

const FILE = '/work/r.qrecipe';
const HEAD = 'model "model.onnx"\ndata calib { text "c.txt" }\n';
const run = (body: string, inv = tinyLm(), files: Record<string, string> = {}) => analyze(FILE, HEAD + body, memoryHost(files, inv));
const codes = (ds: Diagnostic[]) => ds.map((d) => d.code);
const textOf = (src: string, d: Diagnostic) => src.slice(d.start, d.end);

test('llm-compressor #1226: a misspelled argument gets a did-you-mean and a quick fix', async () => {
  const src = 'quantize gptq { bits 4  group 64  actoder true }';
  const a = await run(src);
  const d = a.diagnostics.find((x) => x.code === 'QR102');
  assert.ok(d, JSON.stringify(a.diagnostics));
  assert.equal(textOf(HEAD + src, d), 'actoder');
  assert.match(d.message, /did you mean `actorder`/);
  assert.equal(d.fixes?.[0].text, 'actorder');
});

test('llm-compressor #1225: a pruning key inside quantize is a key in the wrong block', async () => {
  const src = 'quantize gptq { bits 4  group 64  sparsity 50% }';
  const a = await run(src);
  const d = a.diagnostics.find((x) => x.code === 'QR103');
  assert.ok(d);
  assert.equal(textOf(HEAD + src, d), 'sparsity');
  assert.match(d.message, /prune stage/);
  assert.equal(d.severity, 'error');
});

test('llm-compressor #1983: a group size that does not divide a layer names the layer (its last group is shorter) and suggests one', async () => {
  const inv = tinyLm(2, [layer('adapter.proj', 64, 200)]);
  const src = 'quantize gptq { bits 4  group 128 }';
  const a = await run(src, inv);
  const d = a.diagnostics.find((x) => x.code === 'QR204');
  assert.ok(d, JSON.stringify(a.diagnostics.map((x) => x.message)));
  assert.equal(d.severity, 'info', 'issue #19: a shorter last group is what GPTQ and MatMulNBits do, not an error');
  assert.equal(textOf(HEAD + src, d), '128');
  assert.match(d.message, /adapter\.proj \(cols 200\)/);
  assert.match(d.message, /layers\.0\.attn\.q_proj, .* \(cols 192\)/);
  // gcd(192, 512, 200) = 8: no divisor ≥ 16 divides all; per-channel is the fix
  assert.equal(d.fixes?.[0].text, 'channel');
  const b = await run('quantize gptq { bits 4  group 128 }');
  const d2 = b.diagnostics.find((x) => x.code === 'QR204');
  assert.ok(d2);
  assert.equal(d2.fixes?.[0].text, '64', 'gcd(192, 512) = 64: group 64 divides every layer');
  const ok = await run('quantize gptq { bits 4  group 64 }');
  assert.ok(!codes(ok.diagnostics).includes('QR204'));
});

test('llm-compressor #1230: targets minus ignore excluding every layer is an error', async () => {
  const src = 'quantize gptq { targets "re:.*_proj"  ignore "re:layers\\..*" group 64 }';
  const a = await run(src);
  const d = a.diagnostics.find((x) => x.code === 'QR202');
  assert.ok(d, JSON.stringify(a.diagnostics.map((x) => x.message)));
  assert.equal(d.severity, 'error');
  assert.match(d.message, /remove all 12 targeted layers/);
  assert.equal(textOf(HEAD + src, d), 'ignore "re:layers\\..*"');
});

test('compressed-tensors #866: an exclusion that matches nothing is flagged with a near name and a fix', async () => {
  const src = 'quantize gptq { group 64  ignore "lm_haed" "layers.0.mlp.up_proj" }';
  const a = await run(src);
  const ds = a.diagnostics.filter((x) => x.code === 'QR203');
  assert.equal(ds.length, 1);
  assert.equal(textOf(HEAD + src, ds[0]), '"lm_haed"');
  assert.match(ds[0].message, /did you mean "lm_head"/);
  const drop = ds[0].fixes?.find((f) => f.title.startsWith('Remove'));
  assert.ok(drop);
  const fixed = (HEAD + src).slice(0, drop.start) + drop.text + (HEAD + src).slice(drop.end);
  assert.match(fixed, /ignore "layers\.0\.mlp\.up_proj" \}/);
});

test('a target matching no layer, an empty override and an N:M width that does not divide', async () => {
  const inv = tinyLm(1, [layer('odd', 10, 90)]);
  const a = await run('prune sparsegpt { targets "re:layers" "nothing.here" "odd"  pattern 2:4  override "zzz*" { sparsity 10% } }', inv);
  assert.deepEqual(codes(a.diagnostics).filter((c) => c.startsWith('QR2')).sort(), ['QR201', 'QR205', 'QR208']);
  assert.match(a.diagnostics.find((d) => d.code === 'QR205')!.message, /odd \(cols 90\)/);
});

test('budget below the smallest feasible size, in bytes and in bits', async () => {
  const a = await run('allocate { targets "re:layers" budget 10KiB candidates 2 3 4 group 64 }');
  const d = a.diagnostics.find((x) => x.code === 'QR206');
  assert.ok(d);
  assert.match(d.message, /smallest feasible size/);
  const b = await run('allocate { targets "re:layers" budget 1.5bits candidates 2 3 4 group 64 }');
  assert.ok(codes(b.diagnostics).includes('QR206'));
  const c = await run('allocate { targets "re:layers" budget 3bits candidates 2 3 4 group 64 }');
  assert.ok(!codes(c.diagnostics).includes('QR206'));
  // pinning layers to 8 bits raises the floor
  const e = await run('allocate { targets "re:layers" budget 2.5bits candidates 2 3 4 group 64  override "layers.0.*" { bits 8 } }');
  assert.ok(codes(e.diagnostics).includes('QR206'));
});

test('resolved recipe: defaults, presets, overrides per layer, data sets and ranges', async () => {
  const a = await run('preset mine { bits 3  group 64 }\nquantize gptq on calib { targets "Linear"  ignore "lm_head"  preset mine  scheme symmetric  override "layers.1.*" { bits 8 } }\nexport onnx-qdq "o.onnx"');
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
  const r = a.recipe;
  assert.equal(r.model?.path, '/work/model.onnx');
  assert.deepEqual(r.datasets.map((d) => [d.name, d.source.kind, d.samples, d.seqlen, d.seed]), [['calib', 'text', 128, 2048, 0]]);
  const q = r.stages[0];
  assert.equal(q.kind, 'quantize');
  if (q.kind !== 'quantize') return;
  assert.deepEqual(q.params, { bits: 3, group: 64, symmetric: true, actorder: false, dampening: 0.01, block: 128, outliers: 0 });
  assert.equal(q.data, 'calib');
  assert.equal(q.selection.layers?.length, 12);
  assert.ok(!q.selection.layers?.includes('lm_head'));
  assert.equal(q.perLayer?.['layers.1.mlp.up_proj'].bits, 8);
  assert.equal(q.perLayer?.['layers.0.mlp.up_proj'].bits, 3);
  assert.deepEqual(q.overrides[0].layers?.length, 6);
  assert.equal(q.range.start.line, 3);
  assert.equal(r.stages[1].kind, 'export');
});

test('imports: the base recipe is merged and this file overrides keys', async () => {
  const base = 'model "model.onnx"\ndata calib { text "c.txt" }\nquantize gptq { bits 4  group 64  actorder true }\nevaluate { size }\n';
  const files = { '/work/base.qrecipe': base };
  const a = await analyze(FILE, 'use "base.qrecipe"\nquantize gptq { bits 3 }\n', memoryHost(files, tinyLm()));
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
  const q = a.recipe.stages[0];
  assert.ok(q.kind === 'quantize' && q.params.bits === 3 && q.params.actorder && q.params.group === 64);
  assert.equal(a.recipe.stages.length, 2);
  assert.equal(a.recipe.stages[0].range.file, FILE);
  assert.ok(a.references.some((r) => r.target.file === '/work/base.qrecipe' && r.start === 4), 'go to definition on the use path');
  // a cycle and an import error are reported on the use line
  const cyc = await analyze(FILE, 'use "r.qrecipe"\n', memoryHost({ [FILE]: 'use "r.qrecipe"\n' }));
  assert.ok(codes(cyc.diagnostics).includes('QR117'));
  const bad = await analyze(FILE, 'use "b.qrecipe"\n', memoryHost({ '/work/b.qrecipe': 'model "m.onnx"\nquantize rtn { bitz 4 }\n' }));
  const d = bad.diagnostics.find((x) => x.code === 'QR117');
  assert.ok(d);
  assert.match(d.message, /line 2/);
  assert.equal(d.start, 4);
});

test('names: unknown data set with did-you-mean, wrong kind for a metric, duplicate names', async () => {
  const a = await run('data heldout { idx "i.gz"  labels "l.gz" }\ndata calib { text "x" }\nquantize gptq on calb { group 64 }\nevaluate { perplexity on heldout }');
  const c = codes(a.diagnostics);
  assert.ok(c.includes('QR112') && c.includes('QR119') && c.includes('QR111'), c.join());
  assert.match(a.diagnostics.find((d) => d.code === 'QR112')!.message, /did you mean `calib`/);
});

test('missing files and an unreadable model', async () => {
  const a = await analyze(FILE, 'model "nope.onnx"\n', memoryHost({}, undefined, []));
  assert.deepEqual(codes(a.diagnostics), ['QR116']);
  const b = await analyze(FILE, 'model "model.onnx"\n', memoryHost({}, new Error('not an ONNX file')));
  assert.deepEqual(codes(b.diagnostics), ['QR207']);
});

test('every example recipe analyses without errors against a synthetic inventory', async () => {
  const dir = path.join(process.cwd(), 'examples');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.qrecipe'))) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    const inv = tinyLm(2, [layer('conv1', 16, 9, 'Conv')]);
    const a = await analyze(path.join(dir, f), text, memoryHost({}, inv, ['/']));
    assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error').map((d) => `${f}: ${d.code} ${d.message}`), []);
    assert.ok(a.recipe.stages.length >= 2, f);
  }
});

test('inlay estimates shrink the model after quantization', async () => {
  const a = await run('quantize rtn { bits 4  group 64 }');
  assert.equal(a.estimates.length, 1);
  assert.ok(a.estimates[0].bytes < tinyLm().totalBytes / 4);
  assert.ok(a.estimates[0].bitsPerWeight! > 4 && a.estimates[0].bitsPerWeight! < 5);
});

test('issue #22: a GPTQ/SparseGPT block above the native limit is refused before any run (the limit is native/limits.ts)', async () => {
  const { OBS_BLOCK } = await import('../../../native/limits');
  for (const stage of ['quantize gptq { bits 4  block %d }', 'prune sparsegpt { sparsity 50%  block %d }']) {
    const ok = await run(stage.replace('%d', String(OBS_BLOCK.max)));
    assert.deepEqual(codes(ok.diagnostics).filter((c) => c === 'QR105'), [], JSON.stringify(ok.diagnostics));
    const src = stage.replace('%d', String(OBS_BLOCK.max + 1));
    const a = await run(src);
    const d = a.diagnostics.find((x) => x.code === 'QR105');
    assert.ok(d, JSON.stringify(a.diagnostics));
    assert.equal(textOf(HEAD + src, d), String(OBS_BLOCK.max + 1));
    assert.match(d.message, new RegExp(`between 1 and ${OBS_BLOCK.max}`));
  }
});

test('a tokenizer that cannot be used is QR120 at its path; one with ids beyond the embedding is QR121', async () => {
  const src = 'model "model.onnx"\ndata a { text "c.txt"  tokenizer "bad.json" }\ndata b { text "c.txt"  tokenizer "big.json" }\ndata c { text "c.txt"  tokenizer "ok.json" }\n';
  const host = {
    ...memoryHost({}, tinyLm()),
    tokenizer: async (p: string) => (p.endsWith('bad.json') ? new Error(`${p}: tokenizer model 'WordLevel' is not supported`)
      : { model: 'BPE', vocabSize: p.endsWith('big.json') ? 128256 : 200, maxId: p.endsWith('big.json') ? 128255 : 199, summary: 'BPE, byte-level' }),
  };
  const a = await analyze(FILE, src, host);
  const q120 = a.diagnostics.filter((d) => d.code === 'QR120');
  const q121 = a.diagnostics.filter((d) => d.code === 'QR121');
  assert.equal(q120.length, 1);
  assert.equal(textOf(src, q120[0]!), '"bad.json"');
  assert.match(q120[0]!.message, /WordLevel/);
  assert.equal(q121.length, 1);
  assert.equal(textOf(src, q121[0]!), '"big.json"');
  assert.match(q121[0]!.message, /128,255.*`embed` has 256 rows/);
});

test('tied embedding and lm_head: the shared weight counts once, compressed when either layer is', async () => {
  const base = tinyLm();
  const embed = base.layers.find((l) => l.name === 'embed')!;
  const head = base.layers.find((l) => l.name === 'lm_head')!;
  head.tensorName = embed.tensorName;
  head.sharedWith = ['embed'];
  embed.sharedWith = ['lm_head'];
  const inv = {
    ...base, totalParams: base.totalParams - head.params, totalBytes: base.totalBytes - head.bytes, layerParams: base.layerParams - head.params,
    layerBytes: base.layerBytes - head.bytes, fileBytes: base.fileBytes - head.bytes,
  };
  const floatOnly = await run('quantize rtn { targets "layers.0.attn.q_proj"  bits 8 }', inv);
  const withHead = await run('quantize rtn { targets "layers.0.attn.q_proj", "lm_head"  bits 8 }', inv);
  const [f, h] = [floatOnly.estimates[0]!, withHead.estimates[0]!];
  // q_proj alone: everything else float, the tied tensor once (never more than the model).
  assert.ok(f.bytes < inv.totalBytes && f.bytes > inv.totalBytes - 192 * 192 * 4, `${f.bytes}`);
  // Quantising lm_head shrinks the one tensor it shares with the embedding by about 4x (8-bit codes,
  // a float32 scale and a uint8 zero point per group of 128 in the DequantizeLinear a tied weight takes).
  const saved = f.bytes - h.bytes;
  assert.ok(Math.abs(saved - 256 * 192 * 3) < 0.03 * 256 * 192 * 3, `saved ${saved}`);
});
