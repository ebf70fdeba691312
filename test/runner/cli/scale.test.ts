// A block-by-block run on a generated Llama-shaped model, as the extension runs it. SIGTERM at
// several points (calibration forward passes, a layer's GPTQ, evaluation through the blocks,
// export): the runner ends within 2 s with exit code 130, the record says cancelled, and nothing is
// left that looks complete (no scratch folder, no temp file, no export). A model too big for the
// machine's memory fails before any work, naming the block and what it needs, with the figure of
// the engine that runs the blocks (onnxruntime or the native executor).
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent, RunRecord } from '../../../language-server/core/protocol/runner';
import { lineSplitter } from '../../../language-server/core/protocol/lines';
import { generateLlamaShaped } from '../../fixtures/gen-llama-shaped';
import { buildCli, CLI, ROOT } from '../quality/common';

const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-cancel-'));
const model = path.join(dir, 'model', 'model.onnx');

before(async () => {
  buildCli();
  await generateLlamaShaped(model, { blocks: 4, hidden: 512, mlp: 1408, heads: 8, vocab: 256 });
});

function recipe(ws: string): string {
  const file = path.join(ws, 'r.qrecipe');
  writeFileSync(file, `model "${model}"
data calib { text "${LM}/data/calib.txt"  samples 16  seqlen 256  seed 0 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 16 }
quantize gptq on calib { targets "re:layers\\\\..*_proj"  bits 4  group 128  actorder true }
evaluate { perplexity on heldout  kl on heldout }
export onnx-matmulnbits "${ws}/out/m.onnx"
`);
  return file;
}

async function cancelAt(name: string, when: (e: RunnerEvent) => boolean): Promise<void> {
  const ws = mkdtempSync(path.join(dir, `ws-${name}-`));
  mkdirSync(path.join(ws, '.qrecipe'));
  const child = spawn(process.execPath, [CLI, 'run', recipe(ws), '--json-events'], {
    cwd: ws, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, QRECIPE_CHAIN_EVAL_MB: '0' },
  });
  const seen: RunnerEvent[] = [];
  let killedAt = 0;
  const lines = lineSplitter((line) => {
    const e = JSON.parse(line) as RunnerEvent;
    seen.push(e);
    if (!killedAt && when(e)) { killedAt = performance.now(); child.kill('SIGTERM'); }
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const took = performance.now() - killedAt;
  assert.ok(killedAt > 0, `${name}: the run ended before the point was reached: ${JSON.stringify(seen.slice(-3))}`);
  assert.ok(took <= 2000, `${name}: exited ${took.toFixed(0)} ms after SIGTERM`);
  assert.equal(code, 130, `${name}: exit code`);
  const start = seen.find((e) => e.type === 'run-start');
  assert.ok(start && start.type === 'run-start');
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(rec.status, 'cancelled', name);
  assert.ok(rec.endedAt);
  const left = readdirSync(start.runDir);
  assert.ok(!left.includes('.scratch'), `${name}: scratch folder removed (${left.join(', ')})`);
  assert.ok(!left.some((f) => f.endsWith('.tmp')), `${name}: no temp file (${left.join(', ')})`);
  assert.ok(!left.includes('quant.bin'), `${name}: no quant.bin of a cancelled run`);
  assert.ok(!existsSync(path.join(ws, 'out', 'm.onnx')), `${name}: no export`);
  const outDir = path.join(ws, 'out');
  if (existsSync(outDir)) assert.deepEqual(readdirSync(outDir).filter((f) => f.endsWith('.tmp')), [], `${name}: no export temp file`);
  const last = seen[seen.length - 1]!;
  assert.equal(last.type === 'run-end' && last.status, 'cancelled');
  console.log(`# ${name}: exit ${took.toFixed(0)} ms after SIGTERM`);
}

test('SIGTERM during block-wise calibration (forward passes of the first block)', () =>
  cancelAt('calibration', (e) => e.type === 'progress' && e.stage === 'quantize'));

test('SIGTERM during GPTQ of a layer (block 1 down_proj)', () =>
  cancelAt('gptq', (e) => e.type === 'progress' && e.layer === 'layers.1.mlp.down_proj'));

test('SIGTERM during evaluation through the blocks', () =>
  cancelAt('evaluation', (e) => e.type === 'progress' && e.stage === 'evaluate'));

test('SIGTERM at the start of the export', () =>
  cancelAt('export', (e) => e.type === 'stage-start' && e.stage === 'export'));

test('a model too big for the memory fails before any work, naming the block and the memory it needs', () => {
  const ws = mkdtempSync(path.join(dir, 'ws-memory-'));
  mkdirSync(path.join(ws, '.qrecipe'));
  const r = spawnSync(process.execPath, [CLI, 'run', recipe(ws), '--json-events'], {
    cwd: ws, encoding: 'utf8', env: { ...process.env, QRECIPE_MEMORY_MB: '200' }, timeout: 120_000,
  });
  assert.equal(r.status, 1);
  const ev = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
  const err = ev.find((e) => e.type === 'log' && e.level === 'error');
  assert.ok(err && err.type === 'log', r.stdout.slice(-2000));
  assert.match(err.message, /layers\.\d+ needs about [\d.]+ MiB of memory .* this machine has 200\.00 MiB/);
  assert.equal(err.line, 4, 'located at the quantize stage');
  assert.ok(!ev.some((e) => e.type === 'layer'), 'no layer was compressed');
  assert.ok(!ev.some((e) => e.type === 'progress' && /forward|capture/.test(e.layer ?? '')), 'no forward pass ran');
  const end = ev[ev.length - 1]!;
  assert.equal(end.type === 'run-end' && end.status, 'failed');
});

test('with --provider native the preflight uses the native executor\'s figure (the weights twice, not three times)', () => {
  const need = (provider: string): number => {
    const ws = mkdtempSync(path.join(dir, `ws-memory-${provider}-`));
    mkdirSync(path.join(ws, '.qrecipe'));
    const r = spawnSync(process.execPath, [CLI, 'run', recipe(ws), '--json-events', '--provider', provider], {
      cwd: ws, encoding: 'utf8', env: { ...process.env, QRECIPE_MEMORY_MB: '200' }, timeout: 120_000,
    });
    assert.equal(r.status, 1, r.stdout.slice(-2000));
    const err = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent).find((e) => e.type === 'log' && e.level === 'error');
    assert.ok(err && err.type === 'log', r.stdout.slice(-2000));
    const m = /needs about ([\d.]+) MiB of memory for block-by-block calibration on (onnxruntime|the native executor \(CPU\)) \(its weights ([\d.]+) MiB/.exec(err.message);
    assert.ok(m, err.message);
    assert.equal(m[2], provider === 'cpu' ? 'onnxruntime' : 'the native executor (CPU)');
    return Number(m[1]) - Number(m[3]);
  };
  // no GPU here: native runs the parts on the CPU; all but the weights is the same figure
  assert.ok(Math.abs(need('cpu') - need('native')) < 0.03, 'the same need besides the weights');
});

test('a model kept as codes (no fake-quant copy): evaluated through its blocks, exported in the run and later from the original and quant.bin', () => {
  const ws = mkdtempSync(path.join(dir, 'ws-codes-'));
  mkdirSync(path.join(ws, '.qrecipe'));
  const env = { ...process.env, QRECIPE_FAKEQUANT_MAX_MB: '0', QRECIPE_CHAIN_EVAL_MB: '0' };
  const r = spawnSync(process.execPath, [CLI, 'run', recipe(ws), '--json-events'], { cwd: ws, encoding: 'utf8', env, timeout: 300_000, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stdout.slice(-2000));
  const ev = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
  const start = ev.find((e) => e.type === 'run-start');
  assert.ok(start && start.type === 'run-start');
  assert.ok(ev.some((e) => e.type === 'log' && /kept as codes/.test(e.message)));
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(rec.artifacts.compressedModel, undefined);
  assert.ok(!existsSync(path.join(start.runDir, 'model.onnx')), 'no fake-quant copy');
  assert.equal(rec.calibration?.[0]?.driver, 'blockwise');
  const x = rec.artifacts.exports[0]!;
  assert.equal(x.verified, true);
  assert.ok(x.check?.ok, `export ${x.check?.exported} vs through the blocks ${x.check?.fakeQuant}`);
  // later, from the original model and quant.bin
  const later = path.join(ws, 'later.onnx');
  const e = spawnSync(process.execPath, [CLI, 'export', 'latest', '--format', 'onnx-matmulnbits', '-o', later], { cwd: ws, encoding: 'utf8', env, timeout: 300_000 });
  assert.equal(e.status, 0, e.stderr);
  const again = (JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord).artifacts.exports.at(-1)!;
  assert.equal(again.path, later);
  assert.equal(again.bytes, x.bytes, 'the same file as the run\'s own export');
  assert.ok(again.check?.ok, JSON.stringify(again.check));
});
