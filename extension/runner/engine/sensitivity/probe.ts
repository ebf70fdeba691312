/**
 * One onnxruntime session over a variant of the model built for sensitivity work: the weights of the
 * chosen layers are graph inputs instead of initializers (onnxruntime-node only passes feeds that
 * the session lists as inputs, and it does not list initializers that are also inputs, so they are
 * removed; every run feeds the dense weights unless a layer is overridden), and the activations
 * entering those layers are extra graph outputs. So one
 * session serves the dense pass that records every layer's input Hessian, and any number of passes
 * with some layers' weights replaced (quantised, pruned) without re-writing the model.
 * Convolutions (group 1, 1-D/2-D, when asked for) are seen as rows = out, cols = in·kh·kw: their
 * captured inputs are unfolded (im2col) so that every output position is one row of X.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel, type OnnxModel } from '../../../../language-server/core/model/reader';
import { inventoryOf } from '../../../../language-server/core/model/inventory';
import { ModelEditor } from '../model/writer';
import { getLayerWeight, transpose } from '../model/weights';
import { openSession, type OpenedSession } from '../evaluate/session';
import { describeIo, lmFeeds, logSoftmaxRow, looksLikeProbabilities, type ModelIo } from '../evaluate/io';
import { floatData, floatTensor } from '../evaluate/tensor-data';

/** The type a probed weight is fed in: its own (float16 graphs stay float16). */
function weightType(l: LayerInfo): 'float32' | 'float16' {
  return l.dtype === 'float16' ? 'float16' : 'float32';
}
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { calibrationSkipReason } from '../calibrate/calibrate';
import { im2col, type ConvGeometry } from '../calibrate/im2col';
import { HessianAccumulator } from '../../../../native/index';
import { convGeometry } from '../calibrate/conv-geometry';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';

/** Mean token cross-entropy and KL against the dense model's distributions over some windows. */
export interface LossResult {
  /** Mean next-token cross-entropy (nats). */
  loss: number;
  /** Mean KL(dense ‖ this) per target token (nats); 0 for the dense pass itself. */
  kl: number;
  targets: number;
}

export interface ProbeOptions {
  /** Probe group-1 1-D/2-D convolutions too (default: MatMul and Gemm only). */
  conv?: boolean;
}

export class ModelProbe {
  private dense = new Map<Int32Array, Float32Array>();
  /** Geometry of the probed convolutions, by layer name. */
  private readonly convs = new Map<string, ConvGeometry>();
  /** Captured activations that are graph inputs (read from the feeds, not the outputs). */
  private readonly fedInputs = new Set<string>();
  /** Dense weights of the probed layers, in their stored layout, fed when not overridden. */
  private readonly denseFeeds: Record<string, ort.Tensor> = {};

  private constructor(
    readonly model: OnnxModel,
    /** Layers whose weights can be overridden and whose inputs are captured. */
    readonly layers: LayerInfo[],
    /** Asked-for layers that cannot be probed, and why. */
    readonly skipped: { name: string; why: string }[],
    private readonly editor: ModelEditor,
    private readonly opened: OpenedSession,
    readonly io: ModelIo,
    private readonly tmp: string,
  ) {}

  /**
   * Opens the probe for the named layers (MatMul/Gemm, and with `conv` group-1 convolutions, with
   * float32 weights; the others are listed in `skipped` with the reason, see `unsupported`).
   */
  static async open(file: string, names: string[], opts: ProbeOptions = {}): Promise<ModelProbe> {
    const model = await loadModel(file);
    const inv = inventoryOf(model);
    const byName = new Map(inv.layers.map((l) => [l.name, l]));
    const layers: LayerInfo[] = [];
    const skipped: { name: string; why: string }[] = [];
    for (const n of names) {
      const l = byName.get(n);
      if (!l) throw new Error(`${file}: no layer '${n}'`);
      const why = ModelProbe.unsupported(l, opts);
      if (why) skipped.push({ name: n, why }); else layers.push(l);
    }
    if (!layers.length) throw new Error(`${file}: none of the ${names.length} selected layers can be probed (${skipped[0]?.why ?? 'none selected'})`);
    const editor = new ModelEditor(model);
    const probe = await loadModel(file);
    const probeEditor = new ModelEditor(probe);
    const graphInputs = new Set(probeEditor.graph.input.map((v) => v.name));
    for (const l of layers) {
      // Constant-node weights (PP-OCR stores its weights so) become inputs the same way.
      if (l.source === 'constant') probeEditor.graph.node = probeEditor.graph.node.filter((n) => !(n.opType === 'Constant' && n.output?.[0] === l.tensorName));
      else probeEditor.removeInitializer(l.tensorName);
      probeEditor.addGraphValue('input', l.tensorName, weightType(l), l.shape);
      if (!graphInputs.has(l.inputName)) probeEditor.addGraphValue('output', l.inputName);
    }
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-probe-'));
    const variant = path.join(tmp, 'probe.onnx');
    await probeEditor.save(variant);
    const opened = await openSession(variant, { provider: 'cpu', ort: { graphOptimizationLevel: 'basic' } });
    const weightInputs = new Set(layers.map((l) => l.tensorName));
    const described = describeIo(opened.session, file);
    const io = { ...described, extra: described.extra.filter((n) => !weightInputs.has(n)) };
    const p = new ModelProbe(model, layers, skipped, editor, opened, io, tmp);
    for (const l of layers) {
      if (l.op === 'Conv') p.convs.set(l.name, convGeometry(model.proto.graph?.node ?? [], l));
      if (graphInputs.has(l.inputName)) p.fedInputs.add(l.inputName);
    }
    for (const l of layers) {
      const w = await getLayerWeight(editor, l);
      p.denseFeeds[l.tensorName] = floatTensor(weightType(l), l.transposed ? transpose(w, l.rows, l.cols) : w, l.shape);
    }
    return p;
  }

  /** The variant model file (weights as inputs, activations as outputs), valid until close(). */
  get variantPath(): string {
    return path.join(this.tmp, 'probe.onnx');
  }

  /** Feeds of the probed weights: dense, or overridden (rows × cols) where given. */
  weightFeeds(overrides?: Map<string, Float32Array>): Record<string, ort.Tensor> {
    return this.overrideFeeds(overrides);
  }

  /** Why a layer cannot be probed, or undefined. */
  static unsupported(l: LayerInfo, opts: ProbeOptions = {}): string | undefined {
    if (l.op === 'Conv') {
      if (!opts.conv) return 'Conv layers are not probed here (MatMul and Gemm only)';
      const why = calibrationSkipReason(l);
      if (why) return why;
    } else if (l.op !== 'MatMul' && l.op !== 'Gemm') return `${l.op} layers are not probed (MatMul${opts.conv ? ', Gemm and Conv' : ' and Gemm'} only)`;
    if (l.dtype !== 'float32' && l.dtype !== 'float16') return `its weight is ${l.dtype}; float32 and float16 only`;
    if (l.via?.length) return `its weight reaches the op through ${l.via.join(', ')}`;
    return undefined;
  }

  async weight(l: LayerInfo): Promise<Float32Array> {
    return getLayerWeight(this.editor, l);
  }

  private feedsFor(windows: Int32Array[], overrides?: Map<string, Float32Array>): Record<string, ort.Tensor> {
    return { ...lmFeeds(this.io, windows), ...this.overrideFeeds(overrides) };
  }

  /** Feeds replacing layer weights (given rows × cols) in their stored layout. */
  private overrideFeeds(overrides?: Map<string, Float32Array>): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { ...this.denseFeeds };
    for (const [name, w] of overrides ?? []) {
      const l = this.layers.find((x) => x.name === name);
      if (!l) throw new Error(`layer '${name}' is not open in this probe`);
      feeds[l.tensorName] = floatTensor(weightType(l), l.transposed ? transpose(w, l.rows, l.cols) : w, l.shape);
    }
    return feeds;
  }

  /**
   * The dense pass over calibration windows: each probed layer's input Hessian H = (2/n)Σ x xᵀ
   * (every token of every window a column of X, n = number of windows), accumulated by the addon.
   */
  async hessians(windows: Int32Array[], opts: LongRunOptions & { batch?: number } = {}): Promise<Map<string, Float32Array>> {
    const acc = new Map(this.layers.map((l) => [l.name, new HessianAccumulator(l.cols)]));
    const batch = opts.batch ?? 4;
    for (let i = 0; i < windows.length; i += batch) {
      throwIfAborted(opts.signal, 'calibration');
      const group = windows.slice(i, i + batch);
      const feeds = this.feedsFor(group);
      const out = await this.opened.session.run(feeds);
      for (const l of this.layers) {
        const x = this.fedInputs.has(l.inputName) ? feeds[l.inputName] : out[l.inputName];
        if (!x) throw new Error(`calibration: activation '${l.inputName}' of layer '${l.name}' was not produced`);
        const { data, rows } = this.inputRows(l, x);
        await acc.get(l.name)!.add(data, rows, group.length);
      }
      this.keepDense(group, out);
      for (const t of Object.values(out)) t.dispose();
      opts.onProgress?.({ done: Math.min(i + batch, windows.length), total: windows.length, label: 'calibration windows' });
      await yieldToLoop();
    }
    return new Map([...acc].map(([n, a]) => [n, a.H]));
  }

  /**
   * Input Hessians of the probed layers from arbitrary feeds (one sample each, e.g. augmented
   * copies of one sample), every activation row a column of X.
   */
  async hessiansFor(feeds: Record<string, ort.Tensor>[], opts: LongRunOptions = {}, samples?: number[]): Promise<Map<string, Float32Array>> {
    const acc = new Map(this.layers.map((l) => [l.name, new HessianAccumulator(l.cols)]));
    for (const [i, f] of feeds.entries()) {
      throwIfAborted(opts.signal, 'calibration');
      const wanted = [...new Set(this.layers.map((l) => l.inputName).filter((n) => !this.fedInputs.has(n)))];
      // A run must fetch something: the main output when every captured input is a graph input.
      const out = await this.run(f, undefined, wanted.length ? wanted : [this.io.output]);
      for (const l of this.layers) {
        const x = this.fedInputs.has(l.inputName) ? f[l.inputName] : out[l.inputName];
        if (!x) throw new Error(`calibration: activation '${l.inputName}' of layer '${l.name}' was not produced`);
        const { data, rows } = this.inputRows(l, x);
        await acc.get(l.name)!.add(data, rows, samples?.[i] ?? 1);
      }
      for (const t of Object.values(out)) t.dispose();
      opts.onProgress?.({ done: i + 1, total: feeds.length, label: 'calibration samples' });
      await yieldToLoop();
    }
    return new Map([...acc].map(([n, a]) => [n, a.H]));
  }

  /** A captured input as rows of X (cols = the layer's cols): tokens, or unfolded conv positions. */
  private inputRows(l: LayerInfo, x: ort.Tensor): { data: Float32Array; rows: number } {
    const g = this.convs.get(l.name);
    if (g) {
      const u = im2col(floatData(x, `activation '${l.inputName}'`), x.dims as number[], g);
      if (u.cols !== l.cols) throw new Error(`layer '${l.name}': its unfolded input has ${u.cols} columns, the weight ${l.cols}`);
      return { data: u.data, rows: u.rows };
    }
    const data = floatData(x, `activation '${l.inputName}'`);
    return { data, rows: data.length / l.cols };
  }

  private keepDense(group: Int32Array[], out: ort.InferenceSession.OnnxValueMapType): void {
    const logits = out[this.io.output]!;
    const data = floatData(logits, `output '${this.io.output}'`);
    const per = data.length / group.length;
    group.forEach((w, k) => this.dense.set(w, data.slice(k * per, (k + 1) * per)));
  }

  /**
   * Mean next-token cross-entropy of the model with `overrides` (layer → rows×cols weight) over
   * token windows, and the mean KL from the dense model's distributions (computed and kept on the
   * first pass over a window).
   */
  async loss(windows: Int32Array[], overrides?: Map<string, Float32Array>, opts: LongRunOptions & { batch?: number } = {}): Promise<LossResult> {
    if (this.io.task !== 'lm') throw new Error(`${this.model.path}: the loss needs a language model (token ids in, logits out)`);
    const batch = opts.batch ?? 8;
    let nll = 0;
    let kl = 0;
    let targets = 0;
    for (let i = 0; i < windows.length; i += batch) {
      throwIfAborted(opts.signal, 'loss evaluation');
      const group = windows.slice(i, i + batch);
      const missing = group.filter((w) => !this.dense.has(w));
      if (missing.length) {
        const d = await this.opened.session.run(this.feedsFor(missing), [this.io.output]);
        this.keepDense(missing, d);
        for (const t of Object.values(d)) t.dispose();
      }
      const out = overrides?.size ? await this.opened.session.run(this.feedsFor(group, overrides), [this.io.output]) : undefined;
      const [, t, v] = (out?.[this.io.output]?.dims ?? [group.length, group[0]!.length, this.dense.get(group[0]!)!.length / group[0]!.length]) as number[];
      const y = out?.[this.io.output];
      const data = y ? floatData(y, `output '${this.io.output}'`) : undefined;
      const p = new Float64Array(v!);
      const q = new Float64Array(v!);
      group.forEach((w, k) => {
        const dense = this.dense.get(w)!;
        for (let s = 0; s < t! - 1; s++) {
          logSoftmaxRow(dense, s * v!, v!, p);
          if (data) logSoftmaxRow(data, (k * t! + s) * v!, v!, q); else q.set(p);
          nll -= q[w[s + 1]!]!;
          if (data) for (let c = 0; c < v!; c++) kl += Math.exp(p[c]!) * (p[c]! - q[c]!);
          targets++;
        }
      });
      if (out) for (const x of Object.values(out)) x.dispose();
      opts.onProgress?.({ done: Math.min(i + batch, windows.length), total: windows.length, label: 'windows' });
      await yieldToLoop();
    }
    return { loss: nll / targets, kl: kl / targets, targets };
  }

  private readonly denseOf = new WeakMap<object, Float32Array>();

  /**
   * Mean KL(dense ‖ overridden) over every distribution of the main output (its last axis: classes
   * of an image batch, frames of an OCR line), for models other than LMs. `loss` is that KL too.
   */
  async klOn(batches: { feeds: Record<string, ort.Tensor> }[], overrides?: Map<string, Float32Array>, opts: LongRunOptions = {}): Promise<LossResult> {
    let kl = 0;
    let n = 0;
    for (const b of batches) {
      throwIfAborted(opts.signal, 'KL evaluation');
      let dense = this.denseOf.get(b);
      if (!dense) {
        const d = await this.run(b.feeds, undefined, [this.io.output]);
        dense = floatData(d[this.io.output]!, `output '${this.io.output}'`).slice();
        this.denseOf.set(b, dense);
      }
      if (!overrides?.size) continue;
      const out = await this.run(b.feeds, overrides, [this.io.output]);
      const t = out[this.io.output]!;
      const q = floatData(t, `output '${this.io.output}'`);
      const C = Number(t.dims[t.dims.length - 1]);
      const probs = looksLikeProbabilities(dense, C);
      for (let off = 0; off < q.length; off += C) {
        const lp = logDist(dense, off, C, probs);
        const lq = logDist(q, off, C, probs);
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(lp[c]!) * (lp[c]! - lq[c]!);
        kl += Math.max(0, s);
        n++;
      }
      await yieldToLoop();
    }
    const mean = n ? kl / n : 0;
    return { loss: mean, kl: mean, targets: n };
  }

  /** Raw outputs of one forward pass (for SPADE), with optional weight overrides. */
  async run(feeds: Record<string, ort.Tensor>, overrides?: Map<string, Float32Array>, outputs?: string[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    const all = { ...feeds, ...this.overrideFeeds(overrides) };
    return outputs ? this.opened.session.run(all, outputs) : this.opened.session.run(all);
  }

  async close(): Promise<void> {
    await this.opened.session.release();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Log-probabilities of one row: log of a probability row, or log-softmax of logits. */
function logDist(v: Float32Array, off: number, n: number, probs: boolean): Float64Array {
  const out = new Float64Array(n);
  if (probs) {
    for (let c = 0; c < n; c++) out[c] = Math.log(Math.max(v[off + c]!, 1e-30));
    return out;
  }
  logSoftmaxRow(v, off, n, out);
  return out;
}
