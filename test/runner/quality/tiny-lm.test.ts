// Quality of the compression methods on the tiny LM fixture, through `qrecipe run`:
// GPTQ beats RTN at 4 bits (groups of 64) and by more at 3 bits (per row); SparseGPT 2:4 beats
// magnitude 2:4; the 4-bit MatMulNBits export loads, is ≤ 0.2× the float bytes of its quantised
// layers and matches the fake-quant perplexity within 1%.
// Settings (kept small for 2 CPU cores): calibration 32 random windows of 256 bytes (seed 0),
// perplexity on the first 32 held-out windows of 256 bytes; the 28 block projections.
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent, RunRecord } from '../../../language-server/core/protocol/runner';

const ROOT = path.resolve(__dirname, '../../../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const ws = mkdtempSync(path.join(os.tmpdir(), 'qr-quality-'));
mkdirSync(path.join(ws, '.qrecipe'));

before(() => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'extension/scripts/esbuild.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

function run(name: string, stage: string, extra = '', env: Record<string, string> = {}): RunRecord & { log: string } {
  const file = path.join(ws, `${name}.qrecipe`);
  writeFileSync(file, `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 32  seqlen 256  seed 0 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 32 }
${stage}
evaluate { perplexity on heldout }
${extra}
`);
  const r = spawnSync(process.execPath, [CLI, 'run', file, '--json-events'], { cwd: ws, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  const events = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
  const start = events.find((e) => e.type === 'run-start');
  assert.equal(r.status, 0, `${name}: ${r.stdout.slice(-1500)}\n${r.stderr}`);
  assert.ok(start && start.type === 'run-start');
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  console.log(`# ${name}: perplexity ${rec.metrics.original?.perplexity?.toFixed(4)} -> ${rec.metrics.compressed?.perplexity?.toFixed(4)}`);
  return { ...rec, log: events.filter((e) => e.type === 'log').map((e) => (e.type === 'log' ? e.message : '')).join('\n') };
}

const PROJ = 'targets "re:layers\\\\..*_proj"';
const ppl = (r: RunRecord): number => r.metrics.compressed!.perplexity!;

test('GPTQ < RTN at 4 bits with groups of 64, and by a wider margin at 3 bits per row; the 4-bit export matches', () => {
  const rtn4 = run('rtn-w4g64', `quantize rtn { ${PROJ}  bits 4  group 64 }`);
  const gptq4 = run('gptq-w4g64', `quantize gptq on calib { ${PROJ}  bits 4  group 64 }`, `export onnx-matmulnbits "${ws}/gptq-w4g64.onnx"`);
  const rtn3 = run('rtn-w3', `quantize rtn { ${PROJ}  bits 3  group channel }`);
  const gptq3 = run('gptq-w3', `quantize gptq on calib { ${PROJ}  bits 3  group channel }`);
  const original = rtn4.metrics.original!.perplexity!;
  assert.ok(ppl(gptq4) < ppl(rtn4), `w4g64: GPTQ ${ppl(gptq4)} vs RTN ${ppl(rtn4)}`);
  assert.ok(ppl(gptq3) < ppl(rtn3), `w3: GPTQ ${ppl(gptq3)} vs RTN ${ppl(rtn3)}`);
  assert.ok(ppl(rtn3) - ppl(gptq3) > ppl(rtn4) - ppl(gptq4), 'the 3-bit gap is wider than the 4-bit gap');
  assert.ok(ppl(gptq4) >= original * 0.99, 'quantisation does not improve on the original by more than noise');

  // Block by block on parts cut from the graph (the default) = through the whole model once per block.
  assert.match(gptq4.log, /block by block on 4 blocks cut from the graph/);
  const whole = run('gptq-w4g64-whole-model', `quantize gptq on calib { ${PROJ}  bits 4  group 64 }`, '', { QRECIPE_BLOCKWISE: '0' });
  assert.match(whole.log, /through the whole model once per block/);
  assert.ok(Math.abs(ppl(whole) - ppl(gptq4)) <= 1e-4, `block-wise ${ppl(gptq4)} vs whole-model ${ppl(whole)}`);

  const x = gptq4.artifacts.exports[0]!;
  assert.equal(x.verified, true, 'onnxruntime-node loads the export');
  assert.ok(x.quantizedBytes! <= 0.2 * x.quantizedFloatBytes!, `quantised layers: ${x.quantizedBytes} bytes vs ${x.quantizedFloatBytes} float`);
  assert.ok(x.layers!.every((l) => l.encoding === 'matmulnbits'), 'every projection is a MatMulNBits');
  assert.ok(x.check && x.check.ok && x.check.relDiff <= 0.01, `export perplexity ${x.check?.exported} vs fake-quant ${x.check?.fakeQuant}`);
  assert.equal(statSync(x.path).size, x.bytes);
  console.log(`# export: ${x.bytes} bytes, quantised layers ${x.quantizedBytes}/${x.quantizedFloatBytes} = ${(x.quantizedBytes! / x.quantizedFloatBytes!).toFixed(3)}, ${x.bitsPerWeight!.toFixed(2)} bits/weight, ppl ${x.check!.exported.toFixed(4)} vs ${x.check!.fakeQuant.toFixed(4)}`);
});

test('SparseGPT 2:4 < magnitude 2:4, both exactly 50% sparse', () => {
  const mag = run('magnitude-2of4', `prune magnitude { ${PROJ}  pattern 2:4 }`);
  const sgpt = run('sparsegpt-2of4', `prune sparsegpt on calib { ${PROJ}  pattern 2:4 }`);
  assert.ok(ppl(sgpt) < ppl(mag), `2:4: SparseGPT ${ppl(sgpt)} vs magnitude ${ppl(mag)}`);
  for (const r of [mag, sgpt]) for (const l of r.layers) assert.equal(l.sparsity, 0.5, l.name);
});

test('LLM-MQ allocation to 3 bits on average: mixed 2/4-bit layers (the widths MatMulNBits stores), exported as mixed-width MatMulNBits', () => {
  const r = run('llm-mq-3bits', `allocate llm-mq on calib { ${PROJ}  budget 3bits  candidates 2 3 4  metric hessian  group 64 }`, `export onnx-matmulnbits "${ws}/mq3.onnx"`);
  const bits = r.layers.map((l) => l.bits!);
  assert.equal(bits.length, 28);
  assert.ok(r.layers.every((l) => l.method === 'llm-mq'));
  assert.ok(new Set(bits).size >= 2, `one width for every layer: ${bits.join(' ')}`);
  assert.ok(bits.every((b) => b === 2 || b === 4), 'candidate 3 is offered as 4: MatMulNBits stores it in 4-bit slots');
  const params = r.layers.map((l) => (l.name.includes('mlp') ? 192 * 512 : 192 * 192));
  const avg = bits.reduce((a, b, i) => a + b * params[i]!, 0) / params.reduce((a, b) => a + b, 0);
  assert.ok(avg <= 3.0001, `average ${avg} bits over the budget`);
  const x = r.artifacts.exports[0]!;
  assert.ok(x.layers!.every((l) => l.encoding === 'matmulnbits' && l.storedBits === (l.bits === 3 ? 4 : l.bits)), JSON.stringify(x.layers!.slice(0, 3)));
  assert.ok(x.check?.ok, JSON.stringify(x.check));
  console.log(`# llm-mq 3 bits: ${bits.join('')}, average ${avg.toFixed(2)}; perplexity ${r.metrics.compressed!.perplexity!.toFixed(4)}`);
});
