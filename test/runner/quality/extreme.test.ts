// The extreme methods (issue #23) end to end through `qrecipe run` on the tiny LM's first block
// (kept small for 2 CPU cores): vector quantization without row scales, then PV-Tuning, exported as
// onnx-decode — the file loads in onnxruntime and gives the fake-quant perplexity, its compressed
// tensors are exactly the codes and codebooks the method implies (2 bits a weight of uint8 codes for
// 4-vectors + one fp16 codebook of 256×4 a layer), and run.json holds the loss curve and the KL before
// and after measured on the same fixed batches; GPTQ 2-bit with
// incoherence processing beats plain GPTQ 2-bit on the same layers, both exported as onnx-decode.
// Both runs keep their forms in quant.bin: `qrecipe export RUN` later writes onnx-decode (and
// onnx-fakequant) files whose initializers are byte for byte the run's own export's, with the same
// perplexity; the formats that cannot hold the forms are refused with the checker's reason.
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { loadModel, tensorBytes } from '../../../language-server/core/model/reader';
import { ownFormRefusal } from '../../../language-server/core/cost/formats';
import { buildCli, CLI, ROOT, runRecipe } from './common';

const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const ws = mkdtempSync(path.join(os.tmpdir(), 'qr-extreme-'));
mkdirSync(path.join(ws, '.qrecipe'));
const HEAD = `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 16  seqlen 256  seed 0 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 32 }`;
const SEL = 'targets "re:layers\\\\.0\\\\..*_proj"';

before(buildCli);

const ppl = (r: RunRecord): number => r.metrics.compressed!.perplexity!;

/** Initializers of two files that differ (by name, or in their bytes), and how many were compared. */
async function initializerDiff(a: string, b: string): Promise<{ differ: string[]; compared: number }> {
  const [ma, mb] = [await loadModel(a), await loadModel(b)];
  const tb = new Map((mb.proto.graph?.initializer ?? []).map((t) => [t.name!, t]));
  const differ: string[] = [];
  const ta = ma.proto.graph?.initializer ?? [];
  for (const t of ta) {
    const u = tb.get(t.name!);
    if (!u || Buffer.compare(tensorBytes(ma, t), tensorBytes(mb, u)) !== 0 || String(t.dims) !== String(u.dims) || t.dataType !== u.dataType) differ.push(t.name!);
    tb.delete(t.name!);
  }
  return { differ: [...differ, ...tb.keys()], compared: ta.length };
}

/** `qrecipe export RUN` from the workspace; the run record after it. */
function exportLater(r: RunRecord, format: string, out: string): { status: number | null; stderr: string; record: RunRecord } {
  const p = spawnSync(process.execPath, [CLI, 'export', r.id, '--format', format, '-o', out], { cwd: ws, encoding: 'utf8', timeout: 600_000 });
  const record = JSON.parse(readFileSync(path.join(ws, '.qrecipe', 'runs', r.id, 'run.json'), 'utf8')) as RunRecord;
  return { status: p.status, stderr: p.stderr, record };
}

/** Re-exports a finished run's `format` export later and checks it against the run's own file. */
async function reexportMatches(r: RunRecord, k: number, name: string): Promise<void> {
  const own = r.artifacts.exports[k]!;
  const later = path.join(ws, `${name}-later.onnx`);
  const x = exportLater(r, own.format, later);
  assert.equal(x.status, 0, x.stderr);
  const e = x.record.artifacts.exports.at(-1)!;
  assert.ok(e.verified && e.check, JSON.stringify(e));
  const d = await initializerDiff(own.path, later);
  assert.deepEqual(d.differ, [], `${name}: initializers that differ from the run's ${own.format} export`);
  assert.ok(d.compared > 0);
  assert.equal(e.quantizedBytes, own.quantizedBytes);
  assert.equal(e.bitsPerWeight, own.bitsPerWeight);
  const rel = Math.abs(e.check.exported - own.check!.exported) / own.check!.exported;
  assert.ok(rel <= 1e-6, `${name}: perplexity of the later export ${e.check.exported} vs the run's ${own.check!.exported}`);
  console.log(`# ${name}: later ${own.format} export = the run's (${d.compared} initializers identical), perplexity ${e.check.exported.toFixed(6)} vs ${own.check!.exported.toFixed(6)}`);
}

/** Bytes of the decode graph's compressed tensors in an exported file. */
async function compressedBytes(file: string): Promise<number> {
  const m = await loadModel(file);
  let n = 0;
  for (const t of m.proto.graph?.initializer ?? []) if (t.name && /(_codes|_codebooks|_book_offsets|_scales|_zeros)(_\d+)?$|^_hadamardT_|^_signs_/.test(t.name)) n += tensorBytes(m, t).byteLength;
  return n;
}

test('vq without row scales + PV-Tuning, exported as onnx-decode: loads, equals the fake-quant model, stores exactly its codes and codebooks', async () => {
  const out = path.join(ws, 'vq.onnx');
  const r = runRecipe(ws, 'vq', `${HEAD}
quantize vq on calib { ${SEL}  dim 4  codebooks 1  codebits 8  iterations 2  rowscales false }
finetune on calib { steps 6  codes 2% }
evaluate { perplexity on heldout }
export onnx-decode "${out}"
export onnx-fakequant "${path.join(ws, 'vq-fq.onnx')}"
`);
  const layers = r.layers.filter((l) => l.method === 'vq');
  assert.equal(layers.length, 7);
  const e = r.artifacts.exports[0]!;
  assert.equal(e.verified, true);
  assert.ok(e.check?.ok && e.check.relDiff < 1e-4, `exported ${e.check?.exported} vs fake-quant ${e.check?.fakeQuant}`);
  // 7 layers, 442,368/4 = 110,592 params... codes: one byte per 4 weights; one fp16 codebook 256×4 a layer; no scales
  const params = 4 * 192 * 192 + 3 * 512 * 192;
  const expected = params / 4 + 7 * 256 * 4 * 2;
  assert.equal(await compressedBytes(out), expected);
  assert.equal(e.quantizedBytes, expected);
  assert.ok(Math.abs(e.bitsPerWeight! - (8 * expected) / params) < 1e-9);
  const ft = r.finetune?.[0];
  assert.ok(ft, 'run.json has the finetune record');
  assert.equal(ft.curve.length, 6);
  assert.ok(ft.curve.every(([step, loss]) => Number.isFinite(loss) && loss >= 0 && step >= 1));
  assert.equal(ft.layers, 7);
  assert.ok(ft.tensors > 0, 'norm scales trained');
  // KL before and after on the same fixed batches (the first 4 of the tuning data), not the curve's shuffled ones
  assert.equal(ft.measuredOn, 4);
  assert.ok(Number.isFinite(ft.before) && Number.isFinite(ft.after) && ft.after < ft.before, `KL ${ft.before} -> ${ft.after} on the same batches`);
  assert.equal(r.settings?.['quantize.codebook'], '1x8b/4');
  // quant.bin keeps the vector codes and codebooks: `qrecipe export RUN` later writes the same files
  assert.equal(r.artifacts.quant, 'quant.bin');
  await reexportMatches(r, 0, 'vq');
  await reexportMatches(r, 1, 'vq-fq');
  // a format that cannot hold vector codes is refused with the checker's (QR122) reason, nothing written
  const refused = exportLater(r, 'onnx-matmulnbits', path.join(ws, 'vq-nbits.onnx'));
  assert.notEqual(refused.status, 0);
  assert.ok(refused.stderr.includes(ownFormRefusal('onnx-matmulnbits', true)), refused.stderr);
  assert.ok(!existsSync(path.join(ws, 'vq-nbits.onnx')));
  console.log(`# vq + finetune (block 0): perplexity ${ppl(r).toFixed(4)}, ${e.bitsPerWeight!.toFixed(3)} bits a weight, KL ${ft.before.toFixed(4)} -> ${ft.after.toFixed(4)}, ${ft.codesChanged} codes changed`);
});

test('GPTQ 2-bit with incoherence processing beats plain GPTQ 2-bit on the same layers; both onnx-decode exports load and match', async () => {
  const plain = runRecipe(ws, 'gptq2', `${HEAD}
quantize gptq on calib { ${SEL}  bits 2  group channel }
evaluate { perplexity on heldout }
export onnx-decode "${path.join(ws, 'gptq2.onnx')}"
`);
  const inc = runRecipe(ws, 'gptq2-inc', `${HEAD}
quantize gptq on calib { ${SEL}  bits 2  group channel  incoherence hadamard }
evaluate { perplexity on heldout }
export onnx-decode "${path.join(ws, 'gptq2-inc.onnx')}"
`);
  for (const r of [plain, inc]) {
    const e = r.artifacts.exports[0]!;
    assert.ok(e.verified && e.check?.ok && e.check.relDiff < 1e-3, JSON.stringify(e.check));
  }
  console.log(`# GPTQ 2-bit (block 0): ${ppl(plain).toFixed(4)}, with incoherence ${ppl(inc).toFixed(4)}; bits ${plain.artifacts.exports[0]!.bitsPerWeight!.toFixed(3)} / ${inc.artifacts.exports[0]!.bitsPerWeight!.toFixed(3)}`);
  assert.ok(ppl(inc) < ppl(plain), `incoherence ${ppl(inc)} vs plain ${ppl(plain)}`);
  assert.ok(inc.layers.every((l) => l.method === 'gptq+hadamard'));
  // the rotated layers (codes, scales, sign vectors) are in quant.bin: the later export is the run's
  await reexportMatches(inc, 0, 'gptq2-inc');
  const refused = exportLater(inc, 'onnx-qdq', path.join(ws, 'inc-qdq.onnx'));
  assert.notEqual(refused.status, 0);
  assert.ok(refused.stderr.includes(ownFormRefusal('onnx-qdq', false)), refused.stderr);
});
