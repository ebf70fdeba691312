// `qrecipe spade FILE.qrecipe --sample S [--json]`: SPADE trace of one sample of the recipe's model.
// S is a text for a language model, or an image file / line number of an OCR data set.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError } from '../args';
import { loadRecipe } from './sensitivity';
import { outputMode, runAnalysis } from '../analysis-command';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { loadModel } from '../../../language-server/core/model/reader';
import { listOcrLines, ppocrInput, readCharList, readPng } from '../../../language-server/core/model/data/ocr';
import { ModelProbe } from '../engine/sensitivity/probe';
import { runSpade, type SpadeSample } from '../engine/sensitivity/spade';
import type { SpadeResult } from '../../../language-server/core/sensitivity/types';
import type { ResolvedDataset, ResolvedRecipe } from '../../../language-server/core/recipe/resolved';

const HELP = `usage: qrecipe spade FILE.qrecipe --sample S [options]

SPADE: prunes every layer to a per-layer target on one sample's augmented copies (SparseGPT), then
compares the saliency of the pruned "trace" with the dense model's, with per-layer fidelity and the
trace's faithfulness (KL, top-1).
  --sample S        text (language model), or an image file / 1-based line number (OCR data set)
  --data NAME       data set the sample belongs to (default: the allocate stage's, else the first)
  --augment N       augmented copies (default 64)
  --sparsity A:B    per-layer targets rising linearly from A (first layer) to B (last); default 0.5:0.9
  --keys FILE       OCR character list (default: ppocr_keys_v1.txt beside the model)
  --json            print the result as JSON (no progress)
  --json-events     speak the runner protocol on stdout: progress events with ETA, the result, run-end;
                    a {"type":"cancel"} line on stdin stops it
Progress goes to stderr unless --json or --json-events.`;

function datasetOf(recipe: ResolvedRecipe, name?: string): ResolvedDataset {
  const alloc = recipe.stages.find((s) => s.kind === 'allocate');
  const want = name ?? (alloc && 'data' in alloc ? alloc.data : undefined) ?? recipe.datasets[0]?.name;
  const d = recipe.datasets.find((x) => x.name === want);
  if (!d) throw new UsageError(want ? `no data set '${want}' in ${recipe.file}` : `${recipe.file} declares no data set; SPADE needs one for the sample's kind`);
  return d;
}

async function sampleOf(recipe: ResolvedRecipe, d: ResolvedDataset, s: string, keys?: string): Promise<SpadeSample> {
  if (d.source.kind === 'text') {
    const bytes = new TextEncoder().encode(s);
    if (bytes.length < 4) throw new UsageError('--sample: give at least 4 characters of text');
    return { label: s, kind: 'text', tokens: bytes.slice(Math.max(0, bytes.length - 128)) };
  }
  if (d.source.kind === 'ocr') {
    const lines = await listOcrLines(d.source.path, d.source.labels);
    const n = Number(s);
    const file = Number.isInteger(n) && n >= 1 && n <= lines.files.length ? lines.files[n - 1]! : [path.resolve(s), path.resolve(d.source.path, s), path.resolve(d.source.path, 'images', s)].find((f) => existsSync(f));
    if (!file) throw new UsageError(`--sample: '${s}' is neither a line number 1..${lines.files.length} nor an image file`);
    const img = ppocrInput(await readPng(file), 48, 640);
    const keyFile = keys ?? path.join(path.dirname(recipe.model!.path), 'ppocr_keys_v1.txt');
    const chars = existsSync(keyFile) ? await readCharList(keyFile) : [];
    return { label: path.basename(file), kind: 'image', image: { data: img.data, width: img.width, height: 48 }, chars };
  }
  throw new UsageError(`data set '${d.name}' is ${d.source.kind}; SPADE handles text (language models) and OCR lines`);
}

export function formatSpade(r: SpadeResult): string {
  const f = r.faithfulness;
  const lines = [
    `SPADE on ${JSON.stringify(r.sample)} (${r.augmentations} augmented copies, saliency: ${r.method})`,
    `faithfulness: KL(dense‖trace) ${f.kl.toExponential(3)}, top-1 dense ${JSON.stringify(f.top1Dense)} / trace ${JSON.stringify(f.top1Trace)} → ${f.unchanged ? 'unchanged' : 'CHANGED'}`,
    '', 'layer                              target  sparsity  fidelity',
    ...r.layers.map((l) => `${l.name.padEnd(34)} ${(l.target * 100).toFixed(1).padStart(6)}%  ${(l.sparsity * 100).toFixed(1).padStart(7)}%  ${l.fidelity.toExponential(2)}`),
  ];
  const corr = pearson(r.saliency.dense, r.saliency.trace);
  lines.push('', `saliency: ${r.saliency.dense.length} units, dense vs trace correlation ${corr.toFixed(3)}${r.integrated ? `; integrated gradients: ${pearson(r.integrated.dense, r.integrated.trace).toFixed(3)}` : ''}; ${r.seconds.toFixed(1)} s`);
  return lines.join('\n');
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i]! - ma) * (b[i]! - mb); saa += (a[i]! - ma) ** 2; sbb += (b[i]! - mb) ** 2; }
  return saa && sbb ? sab / Math.sqrt(saa * sbb) : 0;
}

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { flags: ['json', 'json-events', 'help'], options: ['sample', 'data', 'augment', 'sparsity', 'keys'], short: { h: 'help' } });
  } catch (e) {
    if (e instanceof UsageError) { console.error(`qrecipe spade: ${e.message}\n\n${HELP}`); return 2; }
    throw e;
  }
  if (parsed.flags.has('help')) { console.log(HELP); return 0; }
  if (parsed.positionals.length !== 1 || !parsed.options.has('sample')) { console.error(HELP); return 2; }
  const file = path.resolve(parsed.positionals[0]!);
  let augmentations: number | undefined;
  let sparsity: { start: number; end: number } | undefined;
  try {
    if (parsed.options.has('augment')) {
      augmentations = Number(parsed.options.get('augment'));
      if (!Number.isInteger(augmentations) || augmentations < 1) throw new UsageError(`--augment must be a positive integer, got '${parsed.options.get('augment')}'`);
    }
    if (parsed.options.has('sparsity')) {
      const [a, b] = parsed.options.get('sparsity')!.split(':').map(Number);
      if (!(a! >= 0 && a! < 1 && b! >= 0 && b! < 1)) throw new UsageError(`--sparsity must be A:B with 0 ≤ A, B < 1, got '${parsed.options.get('sparsity')}'`);
      sparsity = { start: a!, end: b! };
    }
  } catch (e) {
    if (e instanceof UsageError) { console.error(`qrecipe spade: ${e.message}`); return 2; }
    throw e;
  }
  return runAnalysis<SpadeResult>({
    stage: 'spade', mode: outputMode(parsed.flags),
    async work({ signal, onProgress, sink }) {
      const recipe = await loadRecipe(file, sink);
      if (!recipe.model) throw new Error(`${file}: the recipe names no model`);
      const sample = await sampleOf(recipe, datasetOf(recipe, parsed.options.get('data')), parsed.options.get('sample')!, parsed.options.get('keys'));
      // Layers: the allocate stage's selection, else every layer the probe can handle.
      const alloc = recipe.stages.find((s) => s.kind === 'allocate');
      let names = alloc && 'selection' in alloc ? alloc.selection.layers : undefined;
      if (!names?.length) names = inventoryOf(await loadModel(recipe.model.path)).layers.filter((l) => !ModelProbe.unsupported(l)).map((l) => l.name);
      return runSpade(recipe.model.path, names, sample, { augmentations, sparsity, signal, onProgress });
    },
    result: (data) => ({ type: 'result', command: 'spade', data }),
    format: formatSpade,
  });
}
