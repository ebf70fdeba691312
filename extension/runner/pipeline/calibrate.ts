// Calibration statistics (Hessian H = (2/n)·Σ x·xᵀ and input-column norms) of the layers of a
// stage, captured with onnxruntime by exposing each layer's input tensor as a graph output.
// Transformer models are calibrated sequentially, block by block (GPTQ's driver): each block's
// inputs come from the model with the earlier blocks already compressed. Other models are
// captured in one pass. Conv inputs are unfolded into kernel patches (im2col) so that a Conv's
// Hessian lives in the same cols = in/groups·kh·kw space as its weight.
// Stopgap in the runner until the model layer ships its calibration capture.
import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import { HessianAccumulator } from '../../../native/index';
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { LayerInfo } from '../../../language-server/core/model/types';
import type { StageKind } from '../../../language-server/core/protocol/runner';
import { loadModel } from '../../../language-server/core/model/reader';
import { ModelEditor } from '../../../language-server/core/model/writer';
import { attrInts } from '../../../language-server/core/model/graph';
import { openSession } from '../../../language-server/core/model/evaluate/session';
import { describeIo } from '../../../language-server/core/model/evaluate/io';
import { feedBatches } from '../../../language-server/core/model/evaluate/datasets';
import { throwIfAborted } from '../../../language-server/core/util/cancel';
import type { RunContext } from './context';
import type { LayerStats } from './quantize';

/** Folder of a run's scratch files (removed when the run ends). */
export const SCRATCH_DIR = '.scratch';

const BLOCK = /(?:^|\.)(?:layers|layer|blocks|block|h)\.(\d+)\./;

/** Layers grouped by transformer block (in order), then the layers outside blocks; one group if < 2 blocks. */
export function blockGroups(layers: string[]): string[][] {
  const byBlock = new Map<number, string[]>();
  const rest: string[] = [];
  for (const name of layers) {
    const m = BLOCK.exec(name);
    if (m) {
      const k = Number(m[1]);
      if (!byBlock.has(k)) byBlock.set(k, []);
      byBlock.get(k)!.push(name);
    } else rest.push(name);
  }
  if (byBlock.size < 2) return [layers];
  const groups = [...byBlock.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
  if (rest.length) groups.push(rest);
  return groups;
}

interface ConvGeom { kernel: number[]; strides: number[]; pads: number[]; dilations: number[]; groups: number }

function convGeometry(ctx: RunContext, layer: LayerInfo): ConvGeom {
  const node = ctx.state.original.proto.graph?.node?.find((n) => n.name === layer.nodeName);
  const k = layer.kernel ?? layer.shape.slice(2);
  const ints = (name: string, d: number[]): number[] => (node ? attrInts(node, name) : undefined) ?? d;
  const autoPad = node?.attribute?.find((a) => a.name === 'auto_pad')?.s;
  if (autoPad && new TextDecoder().decode(autoPad) !== 'NOTSET') throw new Error(`layer '${layer.name}': Conv auto_pad is not supported by calibration yet`);
  return { kernel: k, strides: ints('strides', k.map(() => 1)), pads: ints('pads', [...k.map(() => 0), ...k.map(() => 0)]), dilations: ints('dilations', k.map(() => 1)), groups: layer.groups ?? 1 };
}

/**
 * Adds the patches of a 2-D Conv input [N, C, H, W] to one Hessian per channel group (grouped Conv
 * layers share one H over their groups; depthwise layers see cols = kh·kw).
 */
async function addConvInput(acc: HessianAccumulator, x: Float32Array, dims: number[], g: ConvGeom, opts: { signal?: AbortSignal }): Promise<void> {
  const [N, C, H, W] = dims as [number, number, number, number];
  const [kh, kw] = g.kernel.length === 2 ? g.kernel as [number, number] : [1, g.kernel[0]!];
  const [sh, sw] = g.strides.length === 2 ? g.strides as [number, number] : [1, g.strides[0]!];
  const [dh, dw] = g.dilations.length === 2 ? g.dilations as [number, number] : [1, g.dilations[0]!];
  const [ph, pw] = g.pads.length === 4 ? [g.pads[0]!, g.pads[1]!] : [0, g.pads[0]!];
  const [ph2, pw2] = g.pads.length === 4 ? [g.pads[2]!, g.pads[3]!] : [0, g.pads[1] ?? 0];
  const cpg = C / g.groups;
  const cols = cpg * kh * kw;
  if (cols !== acc.cols) throw new Error(`Conv input has ${C} channels / ${g.groups} groups × ${kh}×${kw}, the weight has ${acc.cols} columns`);
  const OH = Math.floor((H + ph + ph2 - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pw + pw2 - dw * (kw - 1) - 1) / sw) + 1;
  // Cap the patches taken per image so that big feature maps stay cheap (a strided subsample).
  const positions = OH * OW;
  const step = Math.max(1, Math.floor(positions / 1024));
  const taken = Math.ceil(positions / step);
  const X = new Float32Array(taken * g.groups * cols);
  for (let n = 0; n < N; n++) {
    throwIfAborted(opts.signal, 'calibration');
    let t = 0;
    for (let p = 0; p < positions; p += step) {
      const oy = Math.floor(p / OW);
      const ox = p % OW;
      for (let gi = 0; gi < g.groups; gi++) {
        const row = (t * g.groups + gi) * cols;
        for (let c = 0; c < cpg; c++) {
          const plane = ((n * C) + gi * cpg + c) * H * W;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky * dh;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx * dw;
              X[row + (c * kh + ky) * kw + kx] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[plane + iy * W + ix]! : 0;
            }
          }
        }
      }
      t++;
    }
    await acc.add(X, taken * g.groups, 1, opts);
  }
}

/** Captures the inputs of `group` on `model` and returns each layer's statistics. */
async function captureGroup(ctx: RunContext, model: string, group: LayerInfo[], dataset: ResolvedDataset, scratch: string): Promise<Map<string, LayerStats>> {
  const editor = new ModelEditor(await loadModel(model));
  const inputs = [...new Set(group.map((l) => l.inputName))];
  for (const name of inputs) editor.addGraphValue('output', name, 'float32');
  await editor.save(scratch, { signal: ctx.signal });
  const { session } = await openSession(scratch, { provider: 'cpu' });
  const accs = new Map<string, HessianAccumulator>();
  try {
    const io = describeIo(session, model);
    const s = dataset.source;
    const { batches } = await feedBatches(s.path, io, model, {
      ...('labels' in s ? { labels: s.labels } : {}), ...(s.kind === 'text' ? { seqlen: dataset.seqlen, count: dataset.samples, seed: dataset.seed } : {}),
      limit: dataset.samples, batch: io.task === 'lm' ? 4 : 16,
    });
    const opts = { signal: ctx.signal, device: ctx.device };
    // One accumulator per (input tensor, geometry): layers reading the same input share it.
    const keyOf = (l: LayerInfo): string => `${l.inputName}|${l.op === 'Conv' ? JSON.stringify(convGeometry(ctx, l)) : 'dense'}|${l.cols}`;
    for await (const b of batches()) {
      throwIfAborted(ctx.signal, 'calibration');
      const out = await session.run(b.feeds, inputs);
      const done = new Set<string>();
      for (const l of group) {
        const key = keyOf(l);
        if (done.has(key)) continue;
        done.add(key);
        let acc = accs.get(key);
        if (!acc) { acc = new HessianAccumulator(l.cols); accs.set(key, acc); }
        const t = out[l.inputName] as ort.Tensor;
        const x = t.data as Float32Array;
        if (l.op === 'Conv') await addConvInput(acc, x, t.dims as number[], convGeometry(ctx, l), opts);
        else await acc.add(x, x.length / l.cols, b.samples, opts);
      }
      for (const t of Object.values(out)) t.dispose();
    }
    const stats = new Map<string, LayerStats>();
    for (const l of group) {
      const acc = accs.get(keyOf(l))!;
      if (!acc.count) throw new Error(`calibration on '${dataset.name}' produced no samples for layer '${l.name}'`);
      stats.set(l.name, { H: acc.H, colNorms: acc.columnNorms() });
    }
    return stats;
  } finally {
    await session.release();
    rmSync(scratch, { force: true });
  }
}

/**
 * Calls `visit` with each group of layers and their statistics, in order. In sequential mode the
 * statistics of a group are captured after `visit` has compressed the groups before it.
 */
export async function calibrate(ctx: RunContext, stage: StageKind, dataset: ResolvedDataset, layers: string[],
  visit: (group: string[], stats: Map<string, LayerStats>) => Promise<void>): Promise<void> {
  const groups = blockGroups(layers);
  const sequential = groups.length > 1;
  ctx.sink.emit({ type: 'log', level: 'info', message: sequential ? `${stage}: sequential calibration over ${groups.length} groups (transformer blocks) on '${dataset.name}'` : `${stage}: one-pass calibration on '${dataset.name}'` });
  // Scratch models live in the run's hidden .scratch folder, never under a finished-looking name.
  const dir = path.join(ctx.runDir, SCRATCH_DIR);
  mkdirSync(dir, { recursive: true });
  const current = path.join(dir, 'calibration-model.onnx');
  const scratch = path.join(dir, 'calibration-capture.onnx');
  try {
    for (const group of groups) {
      throwIfAborted(ctx.signal, 'calibration');
      // The model as compressed so far (the original when nothing changed yet).
      let model = ctx.state.original.path;
      if (ctx.state.changedLayers.length) { await ctx.state.save(current, ctx.signal); model = current; }
      ctx.sink.emit({ type: 'progress', stage, done: layers.indexOf(group[0]!), total: layers.length, layer: `calibrating ${group.length} layer${group.length === 1 ? '' : 's'}` });
      const stats = await captureGroup(ctx, model, group.map((n) => ctx.state.layer(n)), dataset, scratch);
      await visit(group, stats);
    }
  } finally {
    rmSync(current, { force: true });
  }
}
