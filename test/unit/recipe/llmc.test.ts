// llm-compressor conversion both ways: imports keep every parameter with an equivalent, report the
// rest (QR301) at their YAML line, and a qrecipe → YAML → qrecipe round trip keeps the stages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { importLlmc } from '../../../language-server/core/recipe/llmc-import';
import { exportLlmc } from '../../../language-server/core/recipe/llmc-export';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { LineIndex } from '../../../language-server/core/recipe/diagnostics';
import { quoteString, stringValue, lex } from '../../../language-server/core/recipe/lexer';
import { memoryHost, tinyLm } from './synthetic';

const GPTQ_YAML = `quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      targets: ["Linear"]
      ignore: ["lm_head", "re:.*mlp\\\\.gate$"]
      dampening_frac: 0.02
      actorder: static
      offload_hessians: true
      config_groups:
        group_0:
          targets: ["Linear"]
          weights: {num_bits: 3, type: int, symmetric: false, strategy: group, group_size: 64}
          input_activations: {num_bits: 8, type: int}
`;

const resolve = async (text: string, withModel = true) => analyze('/work/conv.qrecipe', text, memoryHost({}, withModel ? tinyLm() : undefined));

test('import: GPTQModifier with config_groups keeps bits, group, scheme, dampening, actorder, targets, ignore', async () => {
  const r = importLlmc(GPTQ_YAML, { model: 'model.onnx', data: 'c.txt' });
  const a = await resolve(r.text);
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), [], r.text);
  const q = a.recipe.stages[0];
  assert.ok(q.kind === 'quantize');
  assert.equal(q.method, 'gptq');
  assert.deepEqual({ ...q.params }, { bits: 3, group: 64, symmetric: false, actorder: true, dampening: 0.02, block: 128, outliers: 0 });
  assert.deepEqual(q.selection.ignore.map((p) => p.text), ['lm_head', 're:.*mlp\\.gate$']);
  assert.deepEqual(q.selection.targets.map((p) => p.text), ['Linear']);
  const lines = new LineIndex(GPTQ_YAML);
  const notes = r.diagnostics.map((d) => `${lines.position(d.start).line + 1}:${d.code}`);
  assert.deepEqual(notes.sort(), ['10:QR301', '15:QR301', '3:QR301']);
});

test('import: scheme presets, SparseGPT 2:4, Wanda and an activation scheme', async () => {
  const y = `sparsity_stage:
  sparsity_modifiers:
    SparseGPTModifier: {sparsity: 0.5, mask_structure: "2:4", targets: ["re:layers"]}
quant_stage:
  quant_modifiers:
    QuantizationModifier: {targets: Linear, scheme: W4A16, ignore: [lm_head]}
    WandaPruningModifier: {sparsity: 0.3}
    GPTQModifier: {scheme: W8A8}
`;
  const r = importLlmc(y, { model: 'model.onnx' });
  const a = await resolve(r.text, false); // group 128 does not divide the synthetic model's 192 columns
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), [], r.text);
  const [s, q, w, g] = a.recipe.stages;
  assert.ok(s.kind === 'prune' && s.method === 'sparsegpt' && typeof s.params.pattern === 'object' && s.params.pattern.n === 2 && s.params.pattern.m === 4);
  assert.ok(q.kind === 'quantize' && q.method === 'rtn' && q.params.bits === 4 && q.params.group === 128 && q.params.symmetric);
  assert.ok(w.kind === 'prune' && w.method === 'wanda' && Math.abs(w.params.sparsity - 0.3) < 1e-12);
  assert.ok(g.kind === 'quantize' && g.params.bits === 8 && g.params.group === 'channel');
  assert.ok(r.diagnostics.some((d) => d.code === 'QR301' && /activations/.test(d.message)));
});

test('import: broken YAML and a file without modifiers are QR302', () => {
  assert.ok(importLlmc('a: [1, 2\nb: }').diagnostics.some((d) => d.code === 'QR302'));
  assert.ok(importLlmc('version: 1\n').diagnostics.some((d) => d.code === 'QR302'));
});

test('export then import keeps every stage of the examples that have an llm-compressor equivalent', async () => {
  for (const name of ['quickstart.qrecipe', 'sparsegpt-2of4.qrecipe']) {
    const file = path.join(process.cwd(), 'examples', name);
    const a = await analyze(file, readFileSync(file, 'utf8'), memoryHost({}, tinyLm(), ['/']));
    const y = exportLlmc(a);
    assert.ok(y.diagnostics.some((d) => d.code === 'QR301'), 'model/data/evaluate/export are reported as dropped');
    const back = importLlmc(y.text, { model: 'model.onnx', data: 'c.txt' });
    assert.deepEqual(back.diagnostics, [], y.text);
    const b = await resolve(back.text);
    const strip = (st: typeof a.recipe.stages) => st.filter((s) => s.kind === 'quantize' || s.kind === 'prune').map((s) => ({
      kind: s.kind, method: 'method' in s ? s.method : '', params: 'params' in s ? s.params : {},
      targets: 'selection' in s ? s.selection.targets.map((t) => t.text) : [], ignore: 'selection' in s ? s.selection.ignore.map((t) => t.text) : [],
    }));
    assert.deepEqual(strip(b.recipe.stages), strip(a.recipe.stages), back.text);
  }
});

test('quoteString round-trips through the lexer, backslashes and quotes included', () => {
  for (const s of ['re:layers\\..*', 'a"b', 'ends\\', 'two\\\\x', 'plain', 're:\\d+$']) {
    const toks = lex(quoteString(s));
    assert.equal(toks.length, 1);
    assert.equal(stringValue(toks[0]), s);
  }
});

test('issue #19 item 10: targets written as weights (`.weight`) become layer names; ConstantPruningModifier prunes nothing', async () => {
  const { importLlmc, layerTarget } = await import('../../../language-server/core/recipe/llmc-import');
  assert.equal(layerTarget('model.layers.0.self_attn.q_proj.weight'), 'model.layers.0.self_attn.q_proj');
  assert.equal(layerTarget('re:.*mlp.down_proj.weight$'), 're:.*mlp.down_proj$');
  assert.equal(layerTarget('re:.*q_proj\\.weight'), 're:.*q_proj');
  assert.equal(layerTarget('Linear'), 'Linear');
  const r = importLlmc(`sparsity_stage:
  sparsity_modifiers:
    ConstantPruningModifier:
      targets: ["re:.*q_proj.weight"]
    GPTQModifier:
      targets: ["re:.*_proj.weight$"]
      ignore: ["lm_head.weight"]
      scheme: W4A16
`);
  assert.ok(!/prune/.test(r.text), r.text);
  assert.match(r.text, /# ConstantPruningModifier: keeps existing zeros/);
  assert.match(r.text, /targets "re:\.\*_proj\$"/);
  assert.match(r.text, /ignore "lm_head"/);
  assert.ok(r.diagnostics.some((d) => d.code === 'QR301' && /prunes nothing/.test(d.message)));
  assert.ok(r.diagnostics.some((d) => d.code === 'QR301' && /names weights/.test(d.message)));
});
