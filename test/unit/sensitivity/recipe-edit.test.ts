import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { allocationEdits, applyEdits, allocateStages, ALLOCATION_MARK } from '../../../language-server/core/sensitivity/recipe-edit';
import { parse } from '../../../language-server/core/recipe/parser';
import { lower } from '../../../language-server/core/recipe/lower';

const recipe = `model "m.onnx"
data calib { text "c.txt" }

allocate llm-mq on calib {
  budget 3bits
  candidates 2 3 4
  override "layers.0.*" { bits 4 } # keep the first block at 4 bits
  override "layers.1.q" { bits 2 }
}

evaluate { size }
`;

function overridesOf(text: string): { pattern: string; bits: unknown }[] {
  const doc = lower('/r.qrecipe', text, parse(text).tree);
  const st = doc.stages.find((s) => s.kind === 'allocate')!;
  return st.overrides.map((o) => ({ pattern: o.pattern.value, bits: o.keys.get('bits')?.value }));
}

test('writes one override per layer inside the allocate stage, replacing old single-layer ones', () => {
  const out = applyEdits(recipe, allocationEdits('/r.qrecipe', recipe, { 'layers.1.q': 3, 'layers.1.k': 4 }));
  assert.deepEqual(overridesOf(out), [
    { pattern: 'layers.0.*', bits: 4 },
    { pattern: 'layers.1.q', bits: 3 },
    { pattern: 'layers.1.k', bits: 4 },
  ]);
  assert.ok(out.includes('# keep the first block at 4 bits'), 'other overrides and comments stay');
  assert.ok(out.includes(`  ${ALLOCATION_MARK}\n  override "layers.1.q" { bits 3 }`), 'indented like the stage body');
  assert.equal(parse(out).errors.length, 0, 'still parses cleanly');
  assert.ok(out.endsWith('}\n\nevaluate { size }\n'));
});

test('a second write replaces the first (idempotent shape)', () => {
  const once = applyEdits(recipe, allocationEdits('/r.qrecipe', recipe, { 'layers.1.q': 3 }));
  const twice = applyEdits(once, allocationEdits('/r.qrecipe', once, { 'layers.1.q': 4 }));
  assert.equal(twice.split(ALLOCATION_MARK).length, 2, 'one mark');
  assert.deepEqual(overridesOf(twice).filter((o) => o.pattern === 'layers.1.q'), [{ pattern: 'layers.1.q', bits: 4 }]);
});

test('a one-line stage gets the block before its brace; no stage is an error naming the file', () => {
  const one = 'model "m.onnx"\ndata c { text "c.txt" }\nallocate llm-mq on c { budget 3bits }\n';
  const out = applyEdits(one, allocationEdits('/one.qrecipe', one, { a: 2 }));
  assert.deepEqual(overridesOf(out), [{ pattern: 'a', bits: 2 }]);
  assert.equal(parse(out).errors.length, 0);
  assert.equal(allocateStages('/one.qrecipe', one)[0]!.line, 2);
  assert.throws(() => allocationEdits('/x.qrecipe', 'model "m.onnx"\n', { a: 2 }), /x\.qrecipe: no allocate stage/);
});

test('layer names a recipe string cannot hold or a pattern would misread are written as anchored re: patterns that select exactly that layer (issue 20 #9)', async () => {
  const { compilePattern, isCompiled } = await import('../../../language-server/core/recipe/patterns');
  const { exactPattern } = await import('../../../language-server/core/sensitivity/recipe-edit');
  const names = ['layers.0.q\n} export onnx-fakequant "/tmp/x.onnx" {', 'a*b', 'x?', 're:y', 'Linear', 'tab\there', 'quote"back\\slash', 'ünï.cødé', 'sep\u2028x'];
  const bits = Object.fromEntries(names.map((n, k) => [n, 2 + (k % 3)]));
  const out = applyEdits(recipe, allocationEdits('/r.qrecipe', recipe, bits));
  // still a recipe without syntax errors, with no injected export, and one override per name
  assert.deepEqual(parse(out).errors, []);
  assert.ok(!lower('/r.qrecipe', out, parse(out).tree).stages.some((s) => s.kind === 'export'));
  const written = overridesOf(out).slice(2);
  assert.equal(written.length, names.length);
  const layers = [...names, 'a-b', 'axb', 'Linear2', 'layers.0.q', 'x', 're:y2'].map((name) => ({ name, op: 'MatMul' as const }));
  for (const [k, n] of names.entries()) {
    assert.equal(written[k]!.pattern, exactPattern(n));
    const c = compilePattern(written[k]!.pattern);
    assert.ok(isCompiled(c), `${JSON.stringify(n)}: ${JSON.stringify(c)}`);
    assert.deepEqual(layers.filter((l) => c.test(l as never)).map((l) => l.name), [n], `${JSON.stringify(n)} → ${written[k]!.pattern}`);
  }
  // a second write replaces these overrides instead of adding more
  const again = applyEdits(out, allocationEdits('/r.qrecipe', out, bits));
  assert.equal(overridesOf(again).length, overridesOf(out).length);
});
