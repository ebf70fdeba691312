// The engine's model probe and scores on the tiny LM fixture (skipped without it or without the addon).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isAvailable } from '../../../native/index';
import { ModelProbe } from '../../../extension/runner/engine/sensitivity/probe';
import { errorScores, quantizeWeight } from '../../../extension/runner/engine/sensitivity/quantize';
import { allocationEdits } from '../../../language-server/core/sensitivity/recipe-edit';

const model = path.resolve('test/fixtures/tiny-lm/model.onnx');
const skip = !existsSync(model) ? 'tiny-lm fixture missing' : !isAvailable() ? 'native addon not built' : false;

test('probe: weight overrides change the loss; Hessian error falls with more bits', { skip }, async () => {
  const names = ['layers.1.mlp.up_proj', 'layers.2.self_attn.v_proj'];
  const probe = await ModelProbe.open(model, names);
  try {
    const text = 'NAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]...\n';
    const w = Int32Array.from(new TextEncoder().encode(text).slice(0, 64));
    const H = await probe.hessians([w]);
    const dense = await probe.loss([w]);
    assert.equal(dense.kl, 0);
    const again = await probe.loss([w]);
    assert.equal(again.loss, dense.loss, 'the dense pass is reproducible');
    const l = probe.layers[0]!;
    const W = await probe.weight(l);
    const errs: number[] = [];
    for (const b of [2, 3, 4, 8]) {
      const Q = await quantizeWeight(W, l, b, { group: 64, symmetric: false }, b <= 3 ? 0.005 : 0);
      errs.push(errorScores(W, Q, l, H.get(l.name)).hessian!);
    }
    for (let i = 1; i < errs.length; i++) assert.ok(errs[i]! < errs[i - 1]!, `hessian error must fall with bits: ${errs.join(', ')}`);
    const Q2 = await quantizeWeight(W, l, 2, { group: 64, symmetric: false }, 0);
    const q = await probe.loss([w], new Map([[l.name, Q2]]));
    assert.notEqual(q.loss, dense.loss, 'a 2-bit layer changes the loss');
    assert.ok(q.kl > 0, 'and moves the distribution away from the dense one');
  } finally {
    await probe.close();
  }
});

test('the shipped mixed-precision example takes a written allocation', { skip: !existsSync('examples/mixed-precision.qrecipe') && 'no example' }, async () => {
  const { readFileSync } = await import('node:fs');
  const file = path.resolve('examples/mixed-precision.qrecipe');
  const edits = allocationEdits(file, readFileSync(file, 'utf8'), { 'layers.1.mlp.up_proj': 3 });
  assert.ok(edits.some((e) => e.text.includes('override "layers.1.mlp.up_proj" { bits 3 }')));
});

test('errorScores (TS, used with outliers) agrees with the addon\'s quantError (used without)', { skip: !isAvailable() && 'native addon not built' }, async () => {
  const native = await import('../../../native/index');
  const rows = 48, cols = 128;
  const W = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
  const acc = new native.HessianAccumulator(cols);
  await acc.add(Float32Array.from({ length: 200 * cols }, (_, i) => Math.cos(i * 0.31)), 200, 1);
  const G = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.013));
  for (const b of [2, 4]) {
    const t = errorScores(W, await quantizeWeight(W, { rows, cols }, b, { group: 64, symmetric: false }, 0), { rows, cols }, acc.H, G);
    const r = await native.quantError(W, { rows, cols }, [b], { groupSize: 64, symmetric: false }, { H: acc.H, G });
    assert.ok(Math.abs(t.hessian! - r.hessian[0]!) <= 1e-5 * r.hessian[0]!, `hessian ${t.hessian} vs ${r.hessian[0]}`);
    assert.ok(Math.abs(t.gradient! - r.gradient[0]!) <= 1e-6 * Math.max(1, r.gradient[0]!), `gradient ${t.gradient} vs ${r.gradient[0]}`);
  }
});
