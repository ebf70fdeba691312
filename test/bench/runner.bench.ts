// bench:runner — where a `qrecipe run` spends its time on the tiny LM (GPTQ w4 g64, calibration
// 32×256 bytes, perplexity on 32×256 held-out bytes, MatMulNBits export), and what the export buys:
// file size and forward latency of the MatMulNBits model against the float original, measured in
// this one run. Usage: npm run bench:runner
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateModel } from '../../extension/runner/engine/evaluate/index';
import type { RunnerEvent, RunRecord } from '../../language-server/core/protocol/runner';

const ROOT = path.resolve(__dirname, '../..');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');

async function main(): Promise<void> {
  const ws = mkdtempSync(path.join(os.tmpdir(), 'qr-bench-'));
  mkdirSync(path.join(ws, '.qrecipe'));
  const file = path.join(ws, 'bench.qrecipe');
  const exported = path.join(ws, 'w4.onnx');
  writeFileSync(file, `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 32  seqlen 256 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 32 }
quantize gptq on calib { targets "re:layers\\\\..*_proj"  bits 4  group 64 }
evaluate { perplexity on heldout }
export onnx-matmulnbits "${exported}"
`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'run', file, '--json-events'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = (Date.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(r.stdout.slice(-2000) + r.stderr);
  const events = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
  const start = events.find((e): e is Extract<RunnerEvent, { type: 'run-start' }> => e.type === 'run-start')!;
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  const layerSeconds = rec.layers.reduce((a, l) => a + (l.seconds ?? 0), 0);
  const q = rec.stageSeconds.quantize ?? 0;
  console.log(`qrecipe run: ${wall.toFixed(1)} s wall (process start to exit)`);
  for (const [k, v] of Object.entries(rec.stageSeconds)) console.log(`  ${k.padEnd(10)} ${v!.toFixed(2).padStart(7)} s  ${(100 * v! / wall).toFixed(0).padStart(3)}%`);
  console.log(`  quantize = GPTQ on 28 layers ${layerSeconds.toFixed(2)} s + sequential calibration ${(q - layerSeconds).toFixed(2)} s (calibration/GPTQ = ${((q - layerSeconds) / layerSeconds).toFixed(2)}x)`);
  const lat = async (model: string): Promise<number> => (await evaluateModel({ model, metric: 'latency', seqlen: 256, runs: 20, warmup: 3 })).value;
  const fOrig = await lat(path.join(LM, 'model.onnx'));
  const fExp = await lat(exported);
  const sOrig = statSync(path.join(LM, 'model.onnx')).size;
  const sExp = statSync(exported).size;
  console.log(`export (MatMulNBits 4-bit g64) vs float: file ${sExp} / ${sOrig} bytes = ${(sExp / sOrig).toFixed(3)}x; median forward (1×256 tokens) ${fExp.toFixed(2)} / ${fOrig.toFixed(2)} ms = ${(fExp / fOrig).toFixed(2)}x`);
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
