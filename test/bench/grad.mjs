// `npm run bench:grad`: time and memory of the gradient pass against one forward pass, on the tiny
// LM, the Fashion-MNIST CNN and PP-OCR recognition (those present). Each measurement runs in its own
// process, so peak RSS belongs to that pass alone. Options: --runs=N (timed runs, default 5).
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'out', 'bench', 'grad-bench.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test/bench/grad-bench.ts')], outfile: out, bundle: true, platform: 'node',
  format: 'cjs', target: 'es2022', packages: 'external', logLevel: 'warning',
});
const runs = (process.argv.find((a) => a.startsWith('--runs=')) ?? '--runs=5').slice(7);

function measure(model, mode) {
  const r = spawnSync(process.execPath, [out, model, mode, runs], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${model} ${mode} failed:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
for (const model of ['tiny-lm', 'fmnist-cnn', 'pp-ocr-rec']) {
  const fwd = measure(model, 'forward');
  if (fwd.skip) { console.log(`${model}: skipped (${fwd.skip})`); continue; }
  const grad = measure(model, 'grad');
  console.log(`${model} (${fwd.shape}, ${grad.wrt} weight tensors, ${grad.params.toLocaleString('en-US')} params)`);
  console.log(`  time:      forward ${fwd.ms.toFixed(1)} ms, forward+backward ${grad.ms.toFixed(1)} ms  -> ratio ${(grad.ms / fwd.ms).toFixed(2)}x (gradient model built once in ${grad.buildMs.toFixed(0)} ms)`);
  console.log(`  peak RSS:  forward ${mb(fwd.peakRss)}, gradient ${mb(grad.peakRss)}  -> ratio ${(grad.peakRss / fwd.peakRss).toFixed(2)}x`);
  console.log(`  arrayBuffers after a pass: forward ${mb(fwd.arrayBuffers)}, gradient ${mb(grad.arrayBuffers)} (gradients held: ${mb(grad.gradBytes)})`);
}
