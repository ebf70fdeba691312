// `qrecipe grad MODEL --data PATH`: gradients of a loss w.r.t. weights (averaged over batches) or
// inputs/embeddings (one batch), printed as a table or JSON, optionally written to FILE.json +
// FILE.bin (raw little-endian float32, offsets in the JSON).
import { maxOf } from '../../../language-server/core/util/arrays';
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadModel, type OnnxModel } from '../../../language-server/core/model/reader';
import { byteWindows } from '../../../language-server/core/model/data/text';
import { readIdx } from '../../../language-server/core/model/data/idx';
import { listOcrLines, ppocrInput, readPng } from '../../../language-server/core/model/data/ocr';
import { writeFileAtomic } from '../../../language-server/core/util/atomic';
import { inputGradients, weightGradients, type Feeds, type LossSpec, type UnsupportedOp } from '../engine/grad/index';
import { parseArgs, withUsage, UsageError } from '../args';

const HELP = `usage: qrecipe grad MODEL --data PATH [options]

Gradients of a loss, computed by a backward ONNX graph run with onnxruntime.
  --data PATH        text file (token models, byte-level), IDX images (e.g. *-images-idx3-ubyte.gz),
                     or a folder of text-line images with labels.tsv (OCR)
  --wrt weights|inputs   weights: dL/dW averaged over batches (default); inputs: dL/dinput of one
                     batch (token models: dL/d embedding rows)
  --loss lm|label|logit|ocr   default: lm for token models, label with --labels, ocr for
                     image-to-sequence models, else logit
  --labels FILE      IDX labels for --loss label
  --target N         class (last axis) for --loss logit; --position P: time step (default -1)
  --weights LIST     comma-separated tensor/layer names or * patterns, or 'all' (default: layers)
  --batches N        number of batches (default 4; inputs: 1)   --batch B  samples per batch (default 4)
  --seqlen T         window length for text (default 128)       --seed S   sampling seed (default 0)
  --out FILE.json    write the gradients (FILE.bin beside it holds the float32 values)
  --json             print the summary as JSON`;

interface Options {
  wrt: 'weights' | 'inputs';
  batches: number; batch: number; seqlen: number; seed: number;
  labels?: string;
}

function num(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} needs an integer, got '${v}'`);
  return n;
}

function inputInfo(model: OnnxModel): { name: string; elem: number; dims: (number | undefined)[] } {
  const i = model.proto.graph?.input?.find((x) => !(model.proto.graph?.initializer ?? []).some((t) => t.name === x.name));
  if (!i?.name) throw new Error(`${model.path}: the model has no graph input`);
  const t = i.type?.tensorType;
  return { name: i.name, elem: t?.elemType ?? 0, dims: (t?.shape?.dim ?? []).map((d) => d.dimValue) };
}

/** Batches of model feeds read from `data`, by data kind. */
async function* readBatches(model: OnnxModel, data: string, o: Options, withLabels: boolean): AsyncGenerator<Feeds> {
  const inp = inputInfo(model);
  const isDir = existsSync(data) && statSync(data).isDirectory();
  if (inp.elem === 7 || inp.elem === 6) {
    const windows = await byteWindows(data, o.seqlen, { count: o.batches * o.batch, seed: o.seed });
    for (let b = 0; b < o.batches; b++) {
      const ids = new BigInt64Array(o.batch * o.seqlen);
      for (let k = 0; k < o.batch; k++) windows[b * o.batch + k]!.forEach((v, t) => { ids[k * o.seqlen + t] = BigInt(v); });
      yield { [inp.name]: new ort.Tensor(inp.elem === 7 ? 'int64' : 'int32', inp.elem === 7 ? ids : Int32Array.from(ids, Number), [o.batch, o.seqlen]) };
    }
    return;
  }
  if (isDir) {
    // Lines are zero-padded on the right to the widest one (as PaddleOCR pads to its input width),
    // so every batch has one shape and the gradient model is built once.
    const lines = await listOcrLines(data);
    const height = inp.dims[2] ?? 48;
    const count = Math.min(o.batches * o.batch, lines.files.length);
    const images = [];
    for (let k = 0; k < count; k++) images.push(ppocrInput(await readPng(lines.files[k]!), height));
    const width = maxOf(images.map((x) => x.width));
    for (let start = 0; start < count; start += o.batch) {
      const group = images.slice(start, start + o.batch);
      const x = new Float32Array(group.length * 3 * height * width);
      group.forEach((img, n) => {
        for (let row = 0; row < 3 * height; row++) x.set(img.data.subarray(row * img.width, (row + 1) * img.width), (n * 3 * height + row) * width);
      });
      yield { [inp.name]: new ort.Tensor('float32', x, [group.length, 3, height, width]) };
    }
    return;
  }
  const images = await readIdx(data);
  const labels = withLabels && o.labels ? await readIdx(o.labels) : undefined;
  if (withLabels && !labels) throw new UsageError('--loss label needs --labels FILE');
  const per = images.dims.slice(1).reduce((a, d) => a * d, 1);
  const shape = [o.batch, ...inp.dims.slice(1).map((d, k) => d ?? images.dims[k + 1] ?? 1)];
  for (let b = 0; b < o.batches && (b + 1) * o.batch <= images.dims[0]!; b++) {
    const x = new Float32Array(o.batch * per);
    for (let i = 0; i < x.length; i++) x[i] = Number(images.data[b * o.batch * per + i]!) / 255;
    const feeds: Feeds = { [inp.name]: new ort.Tensor('float32', x, shape) };
    if (labels) feeds.labels = new ort.Tensor('int64', BigInt64Array.from({ length: o.batch }, (_, k) => BigInt(Number(labels.data[b * o.batch + k]!))), [o.batch]);
    yield feeds;
  }
}

function defaultLoss(model: OnnxModel, labels: boolean): LossSpec['kind'] {
  const inp = inputInfo(model);
  if (inp.elem === 7 || inp.elem === 6) return 'lm';
  if (labels) return 'label';
  const out = model.proto.graph?.output?.[0]?.type?.tensorType?.shape?.dim ?? [];
  return out.length === 3 ? 'ocr' : 'logit';
}

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function opsText(ops: UnsupportedOp[]): string {
  return ops.map((u) => `${u.opType} (${u.node}${u.reason !== 'no gradient rule' ? `: ${u.reason}` : ''})`).join(', ');
}

async function writeOut(out: string, summary: Record<string, unknown>, arrays: { name: string; values: Float32Array; entry: Record<string, unknown> }[]): Promise<void> {
  const total = arrays.reduce((a, x) => a + x.values.byteLength, 0);
  const bin = new Uint8Array(total);
  let offset = 0;
  for (const a of arrays) {
    bin.set(new Uint8Array(a.values.buffer, a.values.byteOffset, a.values.byteLength), offset);
    a.entry.offset = offset;
    a.entry.length = a.values.length;
    offset += a.values.byteLength;
  }
  const binFile = out.replace(/\.json$/i, '') + '.bin';
  await writeFileAtomic(binFile, bin);
  await writeFileAtomic(out, JSON.stringify({ ...summary, data: path.basename(binFile) }, null, 1));
}

export async function main(args: string[]): Promise<number> {
  return withUsage('grad', HELP, async () => {
    const p = parseArgs(args, {
      flags: ['json', 'help'],
      options: ['data', 'wrt', 'loss', 'labels', 'target', 'position', 'weights', 'batches', 'batch', 'seqlen', 'seed', 'out'],
      short: { h: 'help' },
    });
    if (p.flags.has('help')) { console.log(HELP); return 0; }
    if (p.positionals.length !== 1) throw new UsageError('give exactly one MODEL');
    const data = p.options.get('data');
    if (!data) throw new UsageError('--data PATH is required');
    const wrt = p.options.get('wrt') ?? 'weights';
    if (wrt !== 'weights' && wrt !== 'inputs') throw new UsageError(`--wrt must be weights or inputs, got '${wrt}'`);
    const model = await loadModel(p.positionals[0]!);
    const o: Options = {
      wrt, batches: num(p.options.get('batches'), 'batches', wrt === 'inputs' ? 1 : 4), batch: num(p.options.get('batch'), 'batch', 4),
      seqlen: num(p.options.get('seqlen'), 'seqlen', 128), seed: num(p.options.get('seed'), 'seed', 0), labels: p.options.get('labels'),
    };
    const kind = (p.options.get('loss') ?? defaultLoss(model, !!o.labels)) as LossSpec['kind'];
    let loss: LossSpec;
    if (kind === 'logit') {
      const target = p.options.get('target');
      if (target === undefined) throw new UsageError('--loss logit needs --target N');
      const pos = p.options.get('position');
      loss = { kind, target: num(target, 'target', 0), ...(pos !== undefined ? { position: num(pos, 'position', -1) } : {}) };
    } else if (kind === 'lm' || kind === 'label' || kind === 'ocr') loss = { kind };
    else throw new UsageError(`--loss must be lm, label, logit or ocr, got '${kind}'`);
    const batches = readBatches(model, data, o, kind === 'label');
    const json = p.flags.has('json');
    const out = p.options.get('out');

    if (wrt === 'weights') {
      const sel = p.options.get('weights');
      // Token ids of every batch go into --out, so a reference implementation can replay them.
      const tokens: { dims: number[]; ids: number[] }[] = [];
      const inp = inputInfo(model);
      const recording = async function* (): AsyncGenerator<Feeds> {
        for await (const f of batches) {
          const t = f[inp.name];
          if (out && t && (t.type === 'int64' || t.type === 'int32')) tokens.push({ dims: t.dims.map(Number), ids: Array.from(t.data as ArrayLike<number | bigint>, Number) });
          yield f;
        }
      };
      const r = await weightGradients(model, recording(), {
        loss, weights: sel === undefined ? 'layers' : sel === 'all' ? 'all' : sel.split(','), total: o.batches,
        onProgress: json ? undefined : (q) => process.stderr.write(`\rbatch ${q.done}/${q.total}`),
      });
      if (!json) process.stderr.write('\n');
      const rows = [...r.grads].map(([tensor, g]) => ({
        tensor, layer: g.layer, dims: g.dims, norm: norm(g.values),
        meanAbs: g.values.reduce((a, v) => a + Math.abs(v), 0) / g.values.length,
      }));
      const summary = {
        model: model.path, wrt, loss: loss.kind, lossValue: r.loss, batches: r.batches,
        weights: rows, blocked: r.blocked, unsupported: r.unsupported, unused: r.unused,
      };
      const tensors = [...r.grads].map(([tensor, g], k) => ({ name: tensor, values: g.values, entry: rows[k]! }));
      if (out) await writeOut(out, tokens.length ? { ...summary, input: inp.name, tokens } : summary, tensors);
      if (json) console.log(JSON.stringify(summary, null, 1));
      else {
        console.log(`${model.path}: loss ${loss.kind} = ${r.loss.toFixed(4)} over ${r.batches} batches`);
        const w = Math.max(6, ...rows.map((x) => (x.layer ?? x.tensor).length));
        console.log(`${'weight'.padEnd(w)}  ${'shape'.padEnd(14)}  ${'|grad|'.padStart(10)}  ${'mean|g|'.padStart(10)}`);
        for (const x of rows) console.log(`${(x.layer ?? x.tensor).padEnd(w)}  ${x.dims.join('x').padEnd(14)}  ${x.norm.toExponential(3).padStart(10)}  ${x.meanAbs.toExponential(3).padStart(10)}`);
        for (const b of r.blocked) console.log(`blocked: ${b.layer ?? b.tensor} (path crosses ${opsText(b.ops)})`);
        if (out) console.log(`gradients written to ${out}`);
      }
      return r.blocked.length && !r.grads.size ? 1 : 0;
    }

    const first = (await batches.next()).value as Feeds | undefined;
    if (!first) throw new Error(`${data}: no batch could be read`);
    const r = await inputGradients(model, first, { loss });
    const entries = r.inputs.map((g) => {
      // Per position saliency: ‖g‖ and gradient × input summed over the last axis.
      const last = g.dims[g.dims.length - 1] ?? 1;
      const positions = g.gradient.length / last;
      const mag = Array.from({ length: positions }, (_, t) => Math.sqrt(g.gradient.subarray(t * last, (t + 1) * last).reduce((a, v) => a + v * v, 0)));
      const gxi = Array.from({ length: positions }, (_, t) => g.gradient.subarray(t * last, (t + 1) * last).reduce((a, v, d) => a + v * g.values[t * last + d]!, 0));
      return { input: g.input, kind: g.kind, value: g.value, dims: g.dims, norm: norm(g.gradient), saliency: g.kind === 'embedding' ? mag : undefined, gradTimesInput: g.kind === 'embedding' ? gxi : undefined };
    });
    const summary = { model: model.path, wrt, loss: loss.kind, lossValue: r.loss, inputs: entries, blocked: r.blocked, unsupported: r.unsupported };
    if (out) await writeOut(out, summary, r.inputs.map((g, k) => ({ name: g.value, values: g.gradient, entry: entries[k]! })));
    if (json) console.log(JSON.stringify(summary, null, 1));
    else {
      console.log(`${model.path}: loss ${loss.kind} = ${r.loss.toFixed(4)} (one batch)`);
      for (const e of entries) {
        console.log(`${e.input} (${e.kind} ${e.value}, ${e.dims.join('x')}): |grad| ${e.norm.toExponential(3)}`);
        if (e.saliency) console.log(`  per-position |grad| (first row): ${e.saliency.slice(0, Math.min(e.saliency.length, e.dims[1] ?? 0, 32)).map((v) => v.toExponential(1)).join(' ')}`);
      }
      for (const b of r.blocked) console.log(`blocked: ${b.input} (${b.reason ?? `path crosses ${opsText(b.ops)}`})`);
    }
    return r.inputs.length ? 0 : 1;
  });
}
