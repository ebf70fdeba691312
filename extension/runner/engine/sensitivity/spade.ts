/**
 * SPADE (Moakhar et al., ICML 2024) on one sample: augmented copies of the sample → every layer's
 * input Hessian from dense passes over them (all layers from the same dense passes) → each layer
 * pruned by SparseGPT to its own target sparsity on that sample alone (the "trace") → saliency of
 * the dense model and of the trace, per-layer fidelity ‖WX − W′X‖²/‖WX‖² and sparsity, per-neuron
 * importance in the trace, and faithfulness (KL of the trace's output vs the dense one, top-1).
 *
 * Tasks: causal LMs (sample = text; target = the dense model's next token after it) and CTC text
 * recognisers (sample = a line image; target = the dense greedy decoding). Saliency: for LMs,
 * gradient × input and integrated gradients of the target logit at the token embeddings (the gradients engine builds the
 * backward graph over the probe's variant, so the same graph serves dense and trace weights);
 * otherwise, or when that fails, occlusion (a token replaced by a space; an 8×8 pixel patch set to
 * mid-grey) measured on the target's log-probability.
 */
import { floatData } from '../evaluate/tensor-data';
import * as ort from 'onnxruntime-node';
import * as native from '../../../../native/index';
import { Rng } from '../../../../language-server/core/util/rng';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import { ctcGreedy } from '../../../../language-server/core/model/data/ocr';
import { loadModel, tensorFloat32 } from '../../../../language-server/core/model/reader';
import { buildGradientModel } from '../grad/gradient-model';
import { ModelProbe } from './probe';
import type { SpadeResult } from '../../../../language-server/core/sensitivity/types';

export interface SpadeSample {
  /** Label shown in the view (the text, or the image file). */
  label: string;
  kind: 'text' | 'image';
  /** Text: the bytes (byte-level LM). Image: CHW float tensor (normalised) with its size. */
  tokens?: Uint8Array;
  image?: { data: Float32Array; width: number; height: number };
  /** OCR character list (CTC class → character), for the top-1 text. */
  chars?: string[];
}

export interface SpadeOptions extends LongRunOptions {
  /** Augmented copies (default 64). */
  augmentations?: number;
  /** Per-layer targets: linear from `start` (first layer) to `end` (last). Default 0.5 → 0.9. */
  sparsity?: { start: number; end: number };
  seed?: number;
}

function logSoftmax(v: Float32Array, off: number, n: number, probs: boolean): Float64Array {
  const out = new Float64Array(n);
  if (probs) { for (let c = 0; c < n; c++) out[c] = Math.log(Math.max(v[off + c]!, 1e-30)); return out; }
  let m = -Infinity;
  for (let c = 0; c < n; c++) m = Math.max(m, v[off + c]!);
  let s = 0;
  for (let c = 0; c < n; c++) s += Math.exp(v[off + c]! - m);
  const lse = m + Math.log(s);
  for (let c = 0; c < n; c++) out[c] = v[off + c]! - lse;
  return out;
}

function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let c = 0; c < p.length; c++) { const e = Math.exp(p[c]!); if (e > 0) s += e * (p[c]! - q[c]!); }
  return Math.max(0, s);
}

/** What one task needs: feeds, augmentation, occlusion units and the target score. */
interface Task {
  feeds(x: Uint8Array | Float32Array): Record<string, ort.Tensor>;
  base: Uint8Array | Float32Array;
  augment(rng: Rng): Uint8Array | Float32Array;
  units: number;
  occlude(i: number): Uint8Array | Float32Array;
  /** Per-step log-distributions of an output (LM: last position only; OCR: every frame). */
  dists(out: ort.Tensor): Float64Array[];
  /** Target log-probability given distributions (target fixed from the dense model). */
  score(d: Float64Array[]): number;
  top1(out: ort.Tensor): string;
  input: SpadeResult['input'];
}

function lmTask(probe: ModelProbe, tokens: Uint8Array): Task {
  const io = probe.io;
  const feeds = (x: Uint8Array | Float32Array): Record<string, ort.Tensor> => {
    const t = x as Uint8Array;
    const ids = io.inputType === 'int32' ? new ort.Tensor('int32', Int32Array.from(t), [1, t.length]) : new ort.Tensor('int64', BigInt64Array.from(t, (b) => BigInt(b)), [1, t.length]);
    return { [io.input]: ids };
  };
  let target = -1;
  const n = tokens.length;
  return {
    feeds, base: tokens, units: n,
    augment: (rng) => {
      // Random left truncation (keep ≥ 70%) and 10–20% byte replacement away from the last 4 bytes.
      const cut = Math.floor(rng.next() * 0.3 * n);
      const t = tokens.slice(cut);
      const rate = 0.1 + 0.1 * rng.next();
      for (let i = 0; i < t.length - 4; i++) if (rng.next() < rate) t[i] = 32 + Math.floor(rng.next() * 95);
      return t;
    },
    occlude: (i) => { const t = tokens.slice(); t[i] = t[i] === 32 ? 95 : 32; return t; },
    dists: (out) => {
      const [, T, V] = out.dims as number[];
      return [logSoftmax(floatData(out), (T! - 1) * V!, V!, false)];
    },
    score: (d) => {
      if (target < 0) { let b = 0; d[0]!.forEach((v, c) => { if (v > d[0]![b]!) b = c; }); target = b; }
      return d[0]![target]!;
    },
    top1: (out) => {
      const [, T, V] = out.dims as number[];
      const v = floatData(out);
      let b = 0;
      for (let c = 1; c < V!; c++) if (v[(T! - 1) * V! + c]! > v[(T! - 1) * V! + b]!) b = c;
      return JSON.stringify(String.fromCharCode(b)).slice(1, -1);
    },
    input: { kind: 'tokens', tokens: Array.from(tokens, (b) => String.fromCharCode(b)) },
  };
}

function ocrTask(probe: ModelProbe, img: { data: Float32Array; width: number; height: number }, chars: string[]): Task {
  const { width: W, height: H } = img;
  const feeds = (x: Uint8Array | Float32Array): Record<string, ort.Tensor> => ({ [probe.io.input]: new ort.Tensor('float32', x as Float32Array, [1, 3, H, W]) });
  const P = 8;
  const px = Math.ceil(W / P);
  const py = Math.ceil(H / P);
  let path: number[] | undefined;
  return {
    feeds, base: img.data, units: px * py,
    augment: (rng) => {
      // Shift by up to ±4 px, brightness/contrast jitter ±15 %, Gaussian-ish noise σ≈0.02.
      const dx = Math.round((rng.next() * 2 - 1) * 4);
      const a = 1 + (rng.next() * 2 - 1) * 0.15;
      const b = (rng.next() * 2 - 1) * 0.15;
      const out = new Float32Array(img.data.length);
      for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const sx = Math.min(W - 1, Math.max(0, x - dx));
        const noise = (rng.next() + rng.next() + rng.next() - 1.5) * 0.04;
        out[(c * H + y) * W + x] = Math.max(-1, Math.min(1, a * img.data[(c * H + y) * W + sx]! + b + noise));
      }
      return out;
    },
    occlude: (i) => {
      const out = img.data.slice();
      const x0 = (i % px) * P;
      const y0 = Math.floor(i / px) * P;
      for (let c = 0; c < 3; c++) for (let y = y0; y < Math.min(H, y0 + P); y++) for (let x = x0; x < Math.min(W, x0 + P); x++) out[(c * H + y) * W + x] = 0;
      return out;
    },
    dists: (out) => {
      const [, T, V] = out.dims as number[];
      const v = floatData(out);
      const probs = v.slice(0, V!).reduce((s, x) => s + x, 0) > 0.99 && v.slice(0, V!).every((x) => x >= 0);
      return Array.from({ length: T! }, (_, t) => logSoftmax(v, t * V!, V!, probs));
    },
    score: (d) => {
      path ??= d.map((row) => { let b = 0; row.forEach((v, c) => { if (v > row[b]!) b = c; }); return b; });
      return d.reduce((s, row, t) => s + row[path![t]!]!, 0);
    },
    top1: (out) => {
      const [, T, V] = out.dims as number[];
      return ctcGreedy(floatData(out), T!, V!, chars);
    },
    input: { kind: 'image', width: px, height: py },
  };
}

export async function runSpade(modelFile: string, layerNames: string[], sample: SpadeSample, opts: SpadeOptions = {}): Promise<SpadeResult> {
  const t0 = performance.now();
  const probe = await ModelProbe.open(modelFile, layerNames);
  try {
    const task = sample.kind === 'text' ? lmTask(probe, sample.tokens!) : ocrTask(probe, sample.image!, sample.chars ?? []);
    const out = probe.io.output;
    const rng = new Rng(opts.seed ?? 0);
    const nAug = opts.augmentations ?? 64;
    const copies = [task.base, ...Array.from({ length: nAug - 1 }, () => task.augment(rng))];
    const H = await probe.hessiansFor(copies.map((c) => task.feeds(c)), { signal: opts.signal, onProgress: opts.onProgress });
    const { start, end } = opts.sparsity ?? { start: 0.5, end: 0.9 };
    const L = probe.layers.length;
    const overrides = new Map<string, Float32Array>();
    const layers: SpadeResult['layers'] = [];
    for (const [i, l] of probe.layers.entries()) {
      throwIfAborted(opts.signal, 'SPADE');
      const target = L > 1 ? start + ((end - start) * i) / (L - 1) : end;
      const W = await probe.weight(l);
      const h = H.get(l.name)!;
      const r = await native.sparsegpt(W, h, l, { sparsity: target, percdamp: 0.01 }, { signal: opts.signal });
      overrides.set(l.name, r.weights);
      let pruned = 0;
      for (const m of r.mask) pruned += m;
      const { fidelity, rows } = outputError(W, r.weights, h, l.rows, l.cols);
      layers.push({ name: l.name, target, sparsity: pruned / r.mask.length, fidelity, importance: rows });
      opts.onProgress?.({ done: i + 1, total: L, label: `pruned ${l.name}` });
      await yieldToLoop();
    }
    const run = async (x: Uint8Array | Float32Array, trace: boolean): Promise<ort.Tensor> => (await probe.run(task.feeds(x), trace ? overrides : undefined, [out]))[out]!;
    const denseOut = await run(task.base, false);
    const traceOut = await run(task.base, true);
    const dd = task.dists(denseOut);
    const td = task.dists(traceOut);
    const klMean = dd.reduce((s, p, k) => s + kl(p, td[k]!), 0) / dd.length;
    const top1Dense = task.top1(denseOut);
    const top1Trace = task.top1(traceOut);
    const baseDense = task.score(dd);
    const baseTrace = task.score(td);
    let method: SpadeResult['method'] = 'occlusion';
    let reason: string | undefined;
    let saliency: { dense: number[]; trace: number[] } | undefined;
    let integrated: { dense: number[]; trace: number[] } | undefined;
    if (sample.kind === 'text') {
      try {
        const V = denseOut.dims[2]!;
        const row = floatData(denseOut).subarray((sample.tokens!.length - 1) * V, sample.tokens!.length * V);
        let target = 0;
        for (let c = 1; c < V; c++) if (row[c]! > row[target]!) target = c;
        const e = await embeddingSaliency(probe, sample.tokens!, target, overrides);
        saliency = e.gxi;
        integrated = e.ig;
        method = 'gradient-x-input';
      } catch (err) {
        reason = `gradient × input unavailable (${(err as Error).message.split('\n')[0]}); occlusion instead`;
      }
    } else {
      reason = 'occlusion: pixel saliency through the recogniser\'s gradients is not wired';
    }
    if (!saliency) {
      const dense: number[] = [];
      const traceS: number[] = [];
      for (let i = 0; i < task.units; i++) {
        throwIfAborted(opts.signal, 'SPADE saliency');
        const x = task.occlude(i);
        dense.push(baseDense - task.score(task.dists(await run(x, false))));
        traceS.push(baseTrace - task.score(task.dists(await run(x, true))));
        if (i % 16 === 15) { opts.onProgress?.({ done: i + 1, total: task.units, label: 'occlusion' }); await yieldToLoop(); }
      }
      saliency = { dense, trace: traceS };
    }
    return {
      version: 1, model: modelFile, sample: sample.label, input: task.input, method, reason,
      saliency, ...(integrated ? { integrated } : {}), layers,
      faithfulness: { kl: klMean, top1Dense, top1Trace, unchanged: top1Dense === top1Trace },
      augmentations: copies.length, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await probe.close();
  }
}

/**
 * Gradient × input and integrated gradients of the target logit at the token embeddings, for the
 * dense weights and for the trace. The embedding table becomes a graph input of the gradient model
 * so that integrated gradients can scale it (baseline: zero embeddings, `steps` midpoint steps):
 * IG_t = Σ_d e_{t,d} · mean_k ∂logit/∂e_{t,d}(α_k·E); gradient × input is the α = 1 case.
 */
async function embeddingSaliency(
  probe: ModelProbe,
  tokens: Uint8Array,
  target: number,
  trace: Map<string, Float32Array>,
  steps = 16,
): Promise<{ gxi: { dense: number[]; trace: number[] }; ig: { dense: number[]; trace: number[] } }> {
  const variant = await loadModel(probe.variantPath);
  const g = variant.proto.graph!;
  const gather = (g.node ?? []).find((n) => n.opType === 'Gather' && n.input?.[1] === probe.io.input);
  if (!gather?.output?.[0]) throw new Error('no embedding Gather on the token input');
  const table = (g.initializer ?? []).find((t) => t.name === gather.input![0]);
  if (!table || table.dims?.length !== 2 || !table.name) throw new Error('the embedding table is not a 2-D initializer');
  const E = tensorFloat32(variant, table);
  const dims = table.dims.map(Number);
  const D = dims[1]!;
  g.initializer = (g.initializer ?? []).filter((t) => t !== table);
  g.input = [...(g.input ?? []), { name: table.name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } }];
  const ids = probe.io.inputType === 'int32'
    ? new ort.Tensor('int32', Int32Array.from(tokens), [1, tokens.length])
    : new ort.Tensor('int64', BigInt64Array.from(tokens, (b) => BigInt(b)), [1, tokens.length]);
  const scaled = (a: number): ort.Tensor => new ort.Tensor('float32', a === 1 ? E : E.map((x) => x * a), dims);
  const feeds = { [probe.io.input]: ids, [table.name]: scaled(1), ...probe.weightFeeds() };
  const gm = await buildGradientModel(variant.proto, feeds, { wrt: [gather.output[0]], loss: { kind: 'logit', target, position: -1 }, output: probe.io.output });
  const gradName = gm.gradOutputs.get(gather.output[0]);
  if (!gradName) {
    const why = gm.blocked.get(gather.output[0])?.map((u) => `${u.opType} (${u.reason})`).join(', ');
    throw new Error(why ? `gradient path crosses ${why}` : 'no gradient for the embeddings');
  }
  const session = await ort.InferenceSession.create(gm.bytes, { logSeverityLevel: 3 });
  try {
    const grad = async (w: Record<string, ort.Tensor>, a: number): Promise<Float32Array> =>
      (await session.run({ [probe.io.input]: ids, [table.name!]: scaled(a), ...w }, [gradName]))[gradName]!.data as Float32Array;
    const times = (gr: Float64Array | Float32Array): number[] => Array.from(tokens, (tok, t) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += gr[t * D + d]! * E[tok * D + d]!;
      return s;
    });
    const both = async (w: Record<string, ort.Tensor>): Promise<{ gxi: number[]; ig: number[] }> => {
      const acc = new Float64Array(tokens.length * D);
      for (let k = 0; k < steps; k++) {
        const gr = await grad(w, (k + 0.5) / steps);
        for (let i = 0; i < acc.length; i++) acc[i] += gr[i]! / steps;
      }
      return { gxi: times(await grad(w, 1)), ig: times(acc) };
    };
    const dense = await both(probe.weightFeeds());
    const tr = await both(probe.weightFeeds(trace));
    return { gxi: { dense: dense.gxi, trace: tr.gxi }, ig: { dense: dense.ig, trace: tr.ig } };
  } finally {
    await session.release();
  }
}

/**
 * ‖(W − W′)X‖²/‖WX‖² through the sample Hessian (tr(ΔW H ΔWᵀ)/tr(W H Wᵀ)), and each output
 * neuron's share of the trace's output energy w′_r H w′_rᵀ (its importance in the trace).
 */
function outputError(W: Float32Array, P: Float32Array, H: Float32Array, rows: number, cols: number): { fidelity: number; rows: number[] } {
  let num = 0;
  let den = 0;
  const energy: number[] = [];
  const quad = (v: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < cols; i++) {
      if (v[i] === 0) continue;
      let a = 0;
      for (let j = 0; j < cols; j++) a += H[i * cols + j]! * v[j]!;
      s += v[i]! * a;
    }
    return s;
  };
  const d = new Float64Array(cols);
  const w = new Float64Array(cols);
  const p = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) { w[c] = W[r * cols + c]!; p[c] = P[r * cols + c]!; d[c] = w[c]! - p[c]!; }
    num += quad(d);
    den += quad(w);
    energy.push(quad(p));
  }
  const total = energy.reduce((a, b) => a + b, 0) || 1;
  return { fidelity: den > 0 ? num / den : 0, rows: energy.map((e) => e / total) };
}
