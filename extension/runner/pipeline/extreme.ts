// The quantize stage for layers in a form of their own (issue #23): vector codes (`quantize vq`,
// AQLM-style) and incoherence processing (`incoherence hadamard` with rtn, gptq or vq: the layer is
// quantised as U·W·Vᵀ against V·H·Vᵀ). The compressed form is kept in the model state (exported by
// onnx-decode, trained by `finetune`); the weight the later stages and the fake-quant model see is
// its decode, with codebooks and scales rounded to float16 exactly as the export stores them.
import * as native from '../../../native/index';
import type { QuantizeStage, QuantParams } from '../../../language-server/core/recipe/resolved';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import { bytesToFloat32, dtypeCode, float32ToBytes } from '../../../language-server/core/model/dtype';
import { relativeOutputError } from '../engine/calibrate/output-error';
import { decodeLayer, type CompressedLayer, type ScalarBody } from '../engine/extreme/compressed';
import { incoherenceForLayer, rotateLayer } from '../engine/extreme/incoherence';
import { vqQuantize } from '../engine/extreme/vq';
import type { QuantizedLayer } from '../export/quant-store';
import type { QuantLayout } from '../../../language-server/core/cost/formats';
import { deviceLabel, StageError, type RunContext } from './context';
import type { LayerStats } from './quantize';

/** Whether a layer's parameters ask for a compressed form of its own (not a QuantizedLayer). */
export function isExtreme(p: QuantParams): boolean {
  return !!p.vq || !!p.incoherence;
}

/** The cost model's layout of a layer in a form of its own. */
export function layoutOfCompressed(c: CompressedLayer): QuantLayout {
  const b = c.body;
  const inc = c.incoherence ? { incoherence: 'hadamard' as const } : {};
  if (b.kind === 'vector') {
    return { bits: (b.codebooks * b.bits) / b.dim, group: 'channel', symmetric: false, vq: { dim: b.dim, codebooks: b.codebooks, codebits: b.bits, rowScales: !b.scales.every((s) => s === 1) }, ...inc };
  }
  return { bits: b.bits, group: b.groupSize >= c.cols ? 'channel' : b.groupSize, symmetric: b.symmetric, ...inc };
}

/** Rounds a float32 array to float16 values in place (what the export stores). */
export function roundToHalf(a: Float32Array): void {
  const f16 = dtypeCode('float16');
  a.set(bytesToFloat32(f16, float32ToBytes(f16, a), a.length));
}

/** Rounds a compressed layer's continuous parameters to float16 in place. */
export function roundCompressed(c: CompressedLayer): void {
  roundToHalf(c.body.scales);
  if (c.body.kind === 'vector') roundToHalf(c.body.books);
}

/** A scalar quantised layer as a compressed layer (no rotations); undefined when its groups are not contiguous. */
export function scalarForm(q: QuantizedLayer): CompressedLayer | undefined {
  if (q.gIdx) return undefined;
  const body: ScalarBody = { kind: 'scalar', bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric, codes: q.codes, scales: q.scales, zeros: q.zeros };
  return { name: q.name, rows: q.rows, cols: q.cols, body };
}

export async function quantizeExtreme(ctx: RunContext, stage: QuantizeStage, name: string, p: QuantParams, stats?: LayerStats): Promise<LayerResult> {
  const layer = ctx.state.layer(name);
  const { rows, cols } = layer;
  const W = await ctx.state.weight(name);
  const H = stats && stats.H.length === cols * cols ? stats.H : undefined;
  if (stage.method !== 'rtn' && !H) throw new StageError(stage, `layer '${name}': ${stage.method} needs the layer's calibration statistics, which the capture could not collect (ignore the layer)`);
  const inc = p.incoherence ? incoherenceForLayer(rows, cols) : undefined;
  const r = inc ? rotateLayer(W, H, rows, cols, inc) : { W, H };
  const opts = { signal: ctx.signal, device: ctx.device };
  let c: CompressedLayer;
  let device = 'cpu';
  if (p.vq) {
    const spec = { dim: p.vq.dim, codebooks: p.vq.codebooks, bits: p.vq.codebits, iterations: p.vq.iterations, scales: p.vq.rowScales, percdamp: p.dampening, device: ctx.device };
    const v = await vqQuantize(r.W, r.H!, rows, cols, spec, { signal: ctx.signal });
    device = v.ranOn.includes('cuda') ? 'cuda' : 'cpu';
    c = { name, rows, cols, body: { kind: 'vector', ...v.layer } };
  } else {
    const groupSize = p.group === 'channel' ? 0 : p.group;
    const spec = { bits: p.bits, groupSize, symmetric: p.symmetric };
    const q = stage.method === 'gptq'
      ? await native.gptq(r.W, r.H!, { rows, cols }, { ...spec, blockSize: p.block, percdamp: p.dampening, actOrder: p.actorder, staticGroups: p.actorder && groupSize > 0 }, opts)
      : await native.rtn(r.W, { rows, cols }, spec, opts);
    device = deviceLabel(q);
    const g = groupSize || cols;
    if (!q.gIdx.every((x, col) => x === Math.floor(col / g))) throw new StageError(stage, `layer '${name}': act-order without static groups has no packed form with incoherence`);
    c = { name, rows, cols, body: { kind: 'scalar', bits: p.bits, groupSize: g, symmetric: p.symmetric, codes: q.codes, scales: q.scales, zeros: q.zeros } };
  }
  if (inc) c.incoherence = inc;
  roundCompressed(c);
  const decoded = decodeLayer(c);
  await ctx.state.setCompressed(c, decoded);
  const relError = H ? await relativeOutputError(W, decoded, H, rows, cols) : undefined;
  return {
    name, method: p.incoherence ? `${stage.method}+${p.incoherence}` : stage.method, bits: p.bits,
    groupSize: p.vq ? p.vq.dim : p.group === 'channel' ? cols : p.group,
    ...(relError !== undefined ? { relError } : {}), device,
  };
}
