// Issue #19 in the checker: widths an export cannot store are located warnings (QR210) and an
// allocator is offered only storable widths; the size shown after a stage is the one cost model's
// (the format of the recipe's export); a group size that does not divide a layer is information,
// not an error; a broken pattern and a missing method no longer cascade into bogus diagnostics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../language-server/core/recipe/analyze';
import type { Diagnostic } from '../../../language-server/core/recipe/diagnostics';
import { planLayer, type ExportFormat } from '../../../language-server/core/cost/formats';
import { layerCost, modelSize } from '../../../language-server/core/cost/cost';
import { graphBytes } from '../../../language-server/core/cost/graph';
import { layer, memoryHost, tinyLm } from './synthetic';

const FILE = '/work/r.qrecipe';
const HEAD = 'model "model.onnx"\ndata calib { text "c.txt" }\n';
const run = (body: string, inv = tinyLm()) => analyze(FILE, HEAD + body, memoryHost({}, inv));
const codes = (ds: Diagnostic[]) => ds.map((d) => d.code);
const textOf = (src: string, d: Diagnostic) => src.slice(d.start, d.end);

test('QR210: 3-bit codes take 4-bit MatMulNBits slots (defect 2: bits 3 was the size of bits 4, silently)', async () => {
  const src = 'quantize rtn { targets "Linear"  bits 3  group 64 }\nexport onnx-matmulnbits "o.onnx"';
  const a = await run(src);
  const d = a.diagnostics.find((x) => x.code === 'QR210');
  assert.ok(d, JSON.stringify(a.diagnostics));
  assert.equal(d.severity, 'warning');
  assert.equal(textOf(HEAD + src, d), '3');
  assert.match(d.message, /onnx-matmulnbits stores the 3-bit codes of 13 layers .* in 4-bit MatMulNBits slots/);
  assert.deepEqual(d.fixes?.map((f) => f.text), ['4']);
  // QDQ stores 3 bits as int4, and an override's width is reported at the override
  const q = 'quantize rtn { targets "Linear"  bits 4  group 64  override "lm_head" { bits 2 } }\nexport onnx-qdq "o.onnx"';
  const b = await run(q);
  const e = b.diagnostics.find((x) => x.code === 'QR210');
  assert.ok(e, JSON.stringify(b.diagnostics));
  assert.equal(textOf(HEAD + q, e), '2');
  assert.match(e.message, /int4 DequantizeLinear codes/);
  // the widths each export stores: no warning
  for (const [bits, format] of [[4, 'onnx-matmulnbits'], [2, 'onnx-matmulnbits'], [8, 'onnx-qdq'], [4, 'onnx-qdq'], [3, 'onnx-fakequant']] as const) {
    const ok = await run(`quantize rtn { targets "Linear"  bits ${bits}  group 64 }\nexport ${format} "o.onnx"`);
    assert.deepEqual(codes(ok.diagnostics), [], `${bits} bits, ${format}`);
  }
});

test('QR210 for allocate: candidates the export stores wider are offered as their slot\'s width; a pin is kept and warned about', async () => {
  const src = 'allocate llm-mq on calib { targets "Linear"  budget 3bits  candidates 2 3 4  group 64  override "lm_head" { bits 3 } }\nexport onnx-matmulnbits "o.onnx"';
  const a = await run(src);
  const ds = a.diagnostics.filter((x) => x.code === 'QR210');
  assert.equal(ds.length, 2, JSON.stringify(a.diagnostics));
  assert.equal(textOf(HEAD + src, ds[0]!), '2 3 4');
  assert.match(ds[0]!.message, /allocator is offered 2 4 instead/);
  assert.deepEqual(ds[0]!.fixes?.map((f) => f.text), ['2 4']);
  assert.equal(textOf(HEAD + src, ds[1]!), '3');
  assert.match(ds[1]!.message, /pinned 3-bit codes of 1 layer/);
  const stage = a.recipe.stages[0]!;
  assert.ok(stage.kind === 'allocate' && stage.perLayer);
  assert.deepEqual(stage.perLayer['layers.0.attn.q_proj']!.candidates, [2, 4], 'the runner is offered what the checker said');
  assert.deepEqual(stage.perLayer['lm_head']!.candidates, [3]);
  // QDQ: 2, 3 and 4 all go to int4
  const b = await run('allocate llm-mq on calib { targets "Linear"  budget 4bits  candidates 2 3 4 8  group 64 }\nexport onnx-qdq "o.onnx"');
  const s2 = b.recipe.stages[0]!;
  assert.ok(s2.kind === 'allocate');
  assert.deepEqual(s2.perLayer!['lm_head']!.candidates, [4, 8]);
});

test('the size after a stage is the cost model\'s, in the recipe\'s export format (defect 8: three sizes for one model)', async () => {
  const inv = tinyLm();
  for (const format of ['onnx-matmulnbits', 'onnx-qdq', 'onnx-fakequant'] as ExportFormat[]) {
    for (const [bits, group, symmetric] of [[4, 64, false], [4, 'channel', true], [3, 128, false]] as const) {
      const a = await run(`quantize rtn { targets "Linear"  bits ${bits}  group ${group}  scheme ${symmetric ? 'symmetric' : 'asymmetric'} }\nexport ${format} "o.onnx"`, inv);
      const q = { bits, group, symmetric, outliers: 0 };
      const layers = inv.layers.filter((l) => l.op === 'MatMul');
      const size = modelSize(inv.fileBytes, layers.map((l) => {
        const plan = planLayer(l, format, inv, q);
        const cost = layerCost(l, q, plan);
        return { layer: l, bytes: cost.total, graph: graphBytes(l, plan, q, 0), quantized: true };
      }));
      const e = a.estimates[0]!;
      assert.equal(e.format, format);
      assert.equal(e.bytes, size.bytes, `${format} ${bits}/${group}`);
      assert.equal(e.bitsPerWeight, size.bitsPerWeight);
    }
  }
  // symmetric quantization has no zero points in any count
  const asym = (await run('quantize rtn { targets "Linear"  bits 4  group 64 }')).estimates[0]!;
  const sym = (await run('quantize rtn { targets "Linear"  bits 4  group 64  scheme symmetric }')).estimates[0]!;
  const mm = inv.layers.filter((l) => l.op === 'MatMul');
  const zeros = (symmetric: boolean): number => mm.reduce((a, l) => {
    const q = { bits: 4, group: 64, symmetric };
    return a + layerCost(l, q, planLayer(l, 'onnx-matmulnbits', inv, q)).zeros;
  }, 0);
  assert.equal(zeros(true), 0);
  const groups = mm.reduce((a, l) => a + l.rows * Math.ceil(l.cols / 64), 0);
  assert.ok(zeros(false) >= groups / 2, 'packed 4-bit zero points, a row\'s padded to a byte');
  assert.ok(asym.bytes - sym.bytes >= zeros(false) && asym.bytes - sym.bytes < zeros(false) + 100 * mm.length, `${asym.bytes - sym.bytes} vs ${zeros(false)}`);
  // without an export, sizes are counted as onnx-matmulnbits
  assert.equal(asym.format, 'onnx-matmulnbits');
});

test('an allocate stage\'s size is its budget filled (a 3-bit budget over 2/4-bit slots was priced as all 2-bit)', async () => {
  const inv = tinyLm();
  const uniform = async (bits: number) => (await run(`quantize rtn { targets "Linear"  bits ${bits}  group 64 }\nexport onnx-matmulnbits "o.onnx"`, inv)).estimates[0]!;
  const [two, four] = [await uniform(2), await uniform(4)];
  const alloc = async (budget: string) => (await run(`allocate llm-mq on calib { targets "Linear"  budget ${budget}  candidates 2 4  group 64 }\nexport onnx-matmulnbits "o.onnx"`, inv)).estimates[0]!;
  // codes are linear in the width and the scales fixed: the filled budget's size is the interpolation
  for (const [budget, f] of [['2bits', 0], ['2.5bits', 0.25], ['3bits', 0.5], ['3.5bits', 0.75], ['4bits', 1], ['6bits', 1]] as const) {
    const e = await alloc(budget);
    const want = two.bytes + f * (four.bytes - two.bytes);
    assert.ok(Math.abs(e.bytes - want) <= 1e-6 * want, `${budget}: ${e.bytes} vs ${want}`);
    assert.ok(Math.abs(e.bitsPerWeight! - (two.bitsPerWeight! + f * (four.bitsPerWeight! - two.bitsPerWeight!))) < 1e-9, budget);
  }
  // a bytes budget is the bytes it allows (between the all-2 and all-4 sizes)
  const quantBytes = (e: { bytes: number }) => e.bytes - (two.bytes - (two.bitsPerWeight! / 8) * inv.layers.filter((l) => l.op === 'MatMul').reduce((a, l) => a + l.params, 0));
  const mid = (quantBytes(two) + quantBytes(four)) / 2;
  const e = await alloc(`${Math.round(mid)}B`);
  assert.ok(Math.abs(quantBytes(e) - mid) <= 1, `${quantBytes(e)} vs ${mid}`);
});

test('issue #19 item 10: an invalid regex is QR115 alone (no QR204/QR202 on a selection nobody wrote)', async () => {
  const src = 'quantize rtn { targets "re:layers\\\\.("  bits 4  group 128 }';
  const a = await run(src, tinyLm(2, [layer('adapter', 64, 200)]));
  assert.deepEqual(codes(a.diagnostics), ['QR115'], JSON.stringify(a.diagnostics.map((d) => d.message)));
});

test('issue #19 item 10: a stage without a method is QR107, not "undefined uses no calibration data"', async () => {
  const a = await run('prune on calib { sparsity 50% }\nquantize on calib { bits 4  group 64 }');
  assert.deepEqual(codes(a.diagnostics), ['QR107', 'QR107'], JSON.stringify(a.diagnostics.map((d) => d.message)));
  assert.ok(a.diagnostics.every((d) => !d.message.includes('undefined')));
});

test('issue #19 item 10: a group size that does not divide a layer is information: GPTQ and MatMulNBits handle the shorter last group', async () => {
  const a = await run('quantize gptq on calib { targets "Linear"  bits 4  group 128 }\nexport onnx-matmulnbits "o.onnx"');
  const d = a.diagnostics.find((x) => x.code === 'QR204');
  assert.ok(d);
  assert.equal(d.severity, 'info');
  assert.match(d.message, /shorter/);
  assert.ok(!a.diagnostics.some((x) => x.severity === 'error'));
});
