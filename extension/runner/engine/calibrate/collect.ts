/**
 * Folds captured activations into per-layer statistics: the inputs of a group of layers, batch by
 * batch, become Hessians and column norms (hessian.ts); convolution inputs are unfolded first
 * (im2col.ts). Shared by the whole-model capture (calibrate.ts) and the block-wise driver
 * (blockwise.ts). Activations of any float type are converted by the one helper (evaluate/tensor-data.ts).
 */
import type * as ort from 'onnxruntime-node';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import type { NodeProto } from '../../../../language-server/core/model/onnx-proto';
import type { GraphTap } from '../../../../native/graph-types';
import { floatData } from '../evaluate/tensor-data';
import { convGeometry } from './conv-geometry';
import { InputStats } from './hessian';
import { im2col, type ConvGeometry } from './im2col';

/** What the algorithms get for one layer. */
export interface LayerStats {
  layer: LayerInfo;
  /** H = (2/n)·Σ x·xᵀ (cols × cols, row-major); this layer's own array (safe to modify in place). */
  hessian: Float32Array;
  /** ‖X_j‖₂ per input column. */
  colNorms: Float32Array;
  /** n: calibration samples folded into H. */
  samples: number;
  /** Activation rows seen (tokens; output positions for convolutions). */
  rows: number;
}

export class StatsCollector {
  /** The activations to capture (the layers' inputs, de-duplicated). */
  readonly names: string[];
  private readonly stats = new Map<string, InputStats>();
  private readonly convOf = new Map<string, ConvGeometry>();

  constructor(
    readonly group: readonly LayerInfo[],
    nodes: NodeProto[],
    private readonly withHessian: boolean,
    private readonly useNative: boolean,
    private readonly keepOnDevice = false,
  ) {
    this.names = [...new Set(group.map((l) => l.inputName))];
    for (const l of group) if (l.op === 'Conv') this.convOf.set(l.inputName, convGeometry(nodes, l));
  }

  /** The Hessian implementation in use ('native' / 'typescript' / 'none'). */
  get backend(): string {
    return [...this.stats.values()][0]?.backend ?? (this.withHessian ? 'typescript' : 'none');
  }

  /**
   * True when a graph executor can fold the activations into the Hessians itself (taps): native
   * Hessians, and no convolution input (those are unfolded into patches here first).
   */
  get canTap(): boolean {
    return this.withHessian && this.useNative && this.convOf.size === 0 && this.names.every((n) => this.statsFor(n, this.colsOf(n)).accumulator);
  }

  private colsOf(name: string): number {
    return this.group.find((l) => l.inputName === name)!.cols;
  }

  private statsFor(name: string, cols: number): InputStats {
    let s = this.stats.get(name);
    if (!s) { s = new InputStats(cols, this.withHessian, this.useNative, this.keepOnDevice); this.stats.set(name, s); }
    if (s.cols !== cols) throw new Error(`activation '${name}' has ${cols} features, expected ${s.cols}`);
    return s;
  }

  /** The taps of one batch holding `samples` calibration samples: each captured activation into its accumulator. */
  taps(samples: number): GraphTap[] {
    return this.names.map((tensor) => {
      const acc = this.statsFor(tensor, this.colsOf(tensor)).accumulator;
      if (!acc) throw new Error(`activation '${tensor}': no native Hessian accumulator to tap into`);
      return { tensor, acc, samples };
    });
  }

  /** Counts a batch the executor folded in through `taps(samples)` (`rows`: activation rows of each tensor). */
  tapped(rows: number, samples: number): void {
    for (const name of this.names) this.stats.get(name)?.tapped(rows, samples);
  }

  /** Adds one batch: each captured activation (from `out`, or from the feeds for graph inputs). */
  async add(out: Record<string, ort.Tensor>, feeds: Record<string, ort.Tensor>, samples: number, signal?: AbortSignal): Promise<void> {
    for (const name of this.names) {
      const t = out[name] ?? feeds[name];
      if (!t) throw new Error(`activation '${name}' was not produced`);
      const x = floatData(t, `activation '${name}'`);
      const conv = this.convOf.get(name);
      let rows: number;
      let cols: number;
      let data: Float32Array;
      if (conv) {
        ({ rows, cols, data } = im2col(x, t.dims as number[], conv));
      } else {
        cols = t.dims[t.dims.length - 1]!;
        rows = x.length / cols;
        data = x;
      }
      await this.statsFor(name, cols).add(data, rows, samples, signal);
    }
  }

  /**
   * Per-layer statistics. Layers that read the same activation (q/k/v, gate/up) get their own copy
   * of H: solvers damp and factor H in place, which must not leak into the next layer's statistics.
   */
  finish(): Map<string, LayerStats> {
    for (const l of this.group) {
      const s = this.stats.get(l.inputName);
      if (s && s.cols !== l.cols) throw new Error(`layer '${l.name}': its input has ${s.cols} features but the weight has ${l.cols} columns`);
    }
    const out = new Map<string, LayerStats>();
    const handedOut = new Set<string>();
    for (const l of this.group) {
      const s = this.stats.get(l.inputName);
      if (!s) continue;
      const H = s.takeH();
      const hessian = handedOut.has(l.inputName) ? H.slice() : H;
      handedOut.add(l.inputName);
      out.set(l.name, { layer: l, hessian, colNorms: s.columnNorms(), samples: s.samples, rows: s.rows });
    }
    this.stats.clear();
    return out;
  }
}
