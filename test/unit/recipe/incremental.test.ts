// Incremental analysis against a fresh one: a chain of seeded random edits of recipes with several
// stages is analysed with one inventory object and the previous analysis (so unchanged items are
// taken over by the parser and lowering, and unchanged stages come from the stage-model memo) and,
// for each edit, again from scratch with a structural copy of that inventory (a cold memo).
// Diagnostics, resolved recipe, patterns, references and estimates must be deep-equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../language-server/core/util/rng';
import { analyze, type Analysis } from '../../../language-server/core/recipe/analyze';
import { keyOf } from '../../../language-server/core/recipe/stage-model';
import type { ModelInventory } from '../../../language-server/core/model/types';
import { layer, memoryHost, tinyLm } from './synthetic';

const FILE = '/work/inc.qrecipe';
const BASE = [
  'model "model.onnx"',
  'data calib { text "c.txt"  samples 16 }',
  'preset mine { bits 3  group 64 }',
  'prune sparsegpt on calib {',
  '  targets "re:layers\\..*"  ignore "layers.0.mlp.up_proj"',
  '  sparsity 50%  pattern 2:4',
  '  override "layers.1.*" { pattern 4:8 }',
  '}',
  'quantize gptq on calib {',
  '  targets "Linear"  ignore "lm_head"',
  '  bits 4  group 64  scheme symmetric',
  '  override "layers.0.*" { bits 8 }',
  '  override "layers.1.mlp.*" { group 128 }',
  '}',
  'allocate llm-mq on calib {',
  '  targets "re:layers\\.1\\..*"  budget 3bits  candidates [2, 3, 4]',
  '  override "layers.1.attn.q_proj" { bits 8 }',
  '  metric fisher  metric hessian',
  '}',
  'evaluate { perplexity on calib  size }',
  'export onnx-matmulnbits "out.onnx"',
].join('\n') + '\n';

/** Edits a user might make: values, patterns, whole lines, plus random characters. */
const PIECES = [
  'bits 2', 'bits 8', 'group 48', 'group 100', 'group channel', 'pattern 2:7', 'sparsity 30%', 'budget 1bits', 'budget 200KiB', 'budget 9MiB',
  'candidates [3, 8]', 'override "layers.*" { bits 3 }', 'override "nope" { bits 3 }', 'ignore "layers.1.*"', 'ignore "lm_hed"', 'targets "conv1"',
  'targets "adapter.proj"', 'targets "re:("', 'preset mine', '\n', ' ', '}', '{', '"', '#', 'quantize rtn { bits 4 }\n', '  override "re:layers\\.0\\..*" { group 32 }\n',
];

function edit(rng: Rng, s: string): string {
  const at = rng.int(s.length + 1);
  switch (rng.int(5)) {
    case 4: {
      // same length, one line more or less: items keep their offsets but not their line numbers
      const spaces = [...s.matchAll(/ /g)];
      const m = spaces[rng.int(spaces.length)];
      return m ? s.slice(0, m.index) + '\n' + s.slice(m.index + 1) : s;
    }
    case 0: return s.slice(0, at) + PIECES[rng.int(PIECES.length)] + s.slice(at);
    case 1: return s.slice(0, at) + s.slice(at + 1 + rng.int(12));
    case 2: {
      // replace a number by another (the commonest edit while tuning a recipe)
      const nums = [...s.matchAll(/\d+/g)];
      if (!nums.length) return s;
      const m = nums[rng.int(nums.length)];
      return s.slice(0, m.index) + String([2, 3, 4, 8, 16, 32, 48, 64, 128][rng.int(9)]) + s.slice(m.index + m[0].length);
    }
    default: return s.slice(0, at) + String.fromCharCode(32 + rng.int(95)) + s.slice(at);
  }
}

const comparable = (a: Analysis) => ({
  diagnostics: a.diagnostics, recipe: a.recipe, estimates: a.estimates, references: a.references, datasets: a.datasets, presets: a.presets,
  patterns: a.patterns.map((p) => ({ ...p, layers: p.layers.map((l) => l.name) })),
});

test('incremental analysis equals a fresh analysis after each of 600 random edits', async () => {
  const rng = new Rng(11);
  const inv = tinyLm(2, [layer('conv1', 16, 9, 'Conv'), layer('adapter.proj', 64, 200)]);
  const host = memoryHost({}, inv);
  let text = BASE;
  let previous: Analysis | undefined;
  let withModelChecks = 0;
  for (let i = 0; i < 600; i++) {
    text = i % 50 === 0 ? BASE : edit(rng, text);
    const warm = await analyze(FILE, text, host, undefined, previous);
    previous = warm;
    const fresh = await analyze(FILE, text, memoryHost({}, structuredClone(inv) as ModelInventory));
    assert.deepEqual(comparable(warm), comparable(fresh), `edit ${i}: ${JSON.stringify(text)}`);
    if (warm.estimates.length && warm.diagnostics.some((d) => d.code.startsWith('QR2'))) withModelChecks++;
  }
  // the edits must exercise the model-aware checks, not only syntax errors
  assert.ok(withModelChecks > 50, `edits with estimates and model-aware diagnostics: ${withModelChecks}`);
});

test('an unchanged stage reuses its memoised per-layer result; a changed one does not', async () => {
  const host = memoryHost({}, tinyLm());
  const a = await analyze(FILE, BASE, host);
  const b = await analyze(FILE, BASE.replace('bits 4  group 64', 'bits 2  group 64'), host);
  const per = (x: Analysis, kind: string) => x.recipe.stages.find((s) => s.kind === kind) as { perLayer?: Record<string, unknown> };
  assert.ok(per(a, 'prune').perLayer);
  assert.equal(per(b, 'prune').perLayer, per(a, 'prune').perLayer);
  assert.notEqual(per(b, 'quantize').perLayer, per(a, 'quantize').perLayer);
});

test('keyOf tells apart values that JSON would merge', () => {
  const distinct = [undefined, null, 0, -0, NaN, Infinity, '0', 'n0', [0], [[0]], { a: 0 }, { a: undefined }, {}, ['a,b'], ['a', 'b'], true, 'true'];
  const keys = distinct.map(keyOf);
  assert.equal(new Set(keys).size, distinct.length, keys.join(' | '));
  assert.equal(keyOf({ bits: 4, group: [1, 2] }), keyOf({ bits: 4, group: [1, 2] }));
});
