// Writes a run's compressed model in one of the export formats. Input: the run's compressed
// (fake-quant, pruned) ONNX model, which holds every final weight, and the quantised codes of
// `quant.bin`. MatMul/Gemm layers become com.microsoft.MatMulNBits; Conv layers and layers
// MatMulNBits cannot take get their weight rebuilt from uint8/int8 codes (DequantizeLinear where the
// opset allows it, else Cast/Sub/Mul, which any opset has); everything else stays as stored.
import path from 'node:path';
import { loadModel, defaultOpset } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor, makeNode, type NewNode } from '../engine/model/writer';
import { GraphIndex, attrInt } from '../../../language-server/core/model/graph';
import type { LayerInfo } from '../../../language-server/core/model/types';
import type { NodeProto, ValueInfoProto } from '../../../language-server/core/model/onnx-proto';
import { throwIfAborted } from '../../../language-server/core/util/cancel';
import { DataType } from '../../../language-server/core/model/onnx-schema';
import { dtypeCode, dtypeName, float32ToBytes } from '../../../language-server/core/model/dtype';
import { VERSION } from '../../../language-server/core/util/version';
import { PROVENANCE_KEYS } from '../../../language-server/core/model/summary';
import { groupsOf, type QuantizedLayer } from './quant-store';
import { blockSizeFor, integerZeros, packMatMulNBits } from './pack';

export type ExportFormat = 'onnx-matmulnbits' | 'onnx-qdq' | 'onnx-fakequant';
export const EXPORT_FORMATS: ExportFormat[] = ['onnx-matmulnbits', 'onnx-qdq', 'onnx-fakequant'];

/** How one quantised layer ended up in the file. */
export interface ExportedLayer {
  name: string;
  encoding: 'matmulnbits' | 'dequantizelinear' | 'cast-sub-mul' | 'float' | 'tied';
  bits: number;
  /** Bits per code in the file (MatMulNBits container; 8 for the DequantizeLinear forms). */
  storedBits?: number;
  /** Bytes of the layer's tensors in the file (codes, scales, zeros) and as float32. */
  bytes: number;
  floatBytes: number;
  params: number;
  why?: string;
}

export interface ExportSummary {
  path: string;
  format: ExportFormat;
  /** Size of the written .onnx file (and side file, if any). */
  bytes: number;
  layers: ExportedLayer[];
  /** Totals over the quantised layers. */
  quantizedBytes: number;
  quantizedFloatBytes: number;
  /** 8·quantizedBytes / params of the quantised layers (scales and zeros included). */
  bitsPerWeight: number;
  warnings: string[];
  /** The graph inputs and outputs of the source model (the export must keep them). */
  io: GraphInterface;
}

/** Names and element types of a graph's inputs (initializers excluded) and outputs. */
export interface GraphInterface {
  inputs: { name: string; type: string }[];
  outputs: { name: string; type: string }[];
}

function graphInterface(g: { input?: ValueInfoProto[]; output?: ValueInfoProto[]; initializer?: { name?: string }[] }): GraphInterface {
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const of = (v: ValueInfoProto): { name: string; type: string } => ({ name: v.name ?? '', type: dtypeName(v.type?.tensorType?.elemType) });
  return { inputs: (g.input ?? []).filter((v) => !inits.has(v.name)).map(of), outputs: (g.output ?? []).map(of) };
}

export interface ExportOptions {
  signal?: AbortSignal;
  /** Where the model came from, written as metadata_props (keys: PROVENANCE_KEYS of core/model/summary.ts). */
  provenance?: { source?: string; recipe?: string; run?: string };
}

const u8 = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The float type a quantised layer's rebuilt weight and scales take: the stored weight's own type
 * (float16 in an fp16 graph, where MatMulNBits binds T1 = float16 and DequantizeLinear must yield
 * float16), float32 for float32 and float64 weights.
 */
export function scaleType(layer: LayerInfo): 'float32' | 'float16' | 'bfloat16' {
  return layer.dtype === 'float16' || layer.dtype === 'bfloat16' ? layer.dtype : 'float32';
}

/** Bytes of one scale of this layer in the exported file. */
export function scaleBytes(layer: LayerInfo): number {
  return scaleType(layer) === 'float32' ? 4 : 2;
}

/** Float values stored as `type` (rounded to nearest even for the half types). */
function floatBytes(type: 'float32' | 'float16' | 'bfloat16', v: Float32Array): Uint8Array {
  return type === 'float32' ? u8(v) : float32ToBytes(dtypeCode(type), v);
}

interface Rewrite { editor: ModelEditor; index: GraphIndex; opset: number; used: Set<string> }

function uniq(rw: Rewrite, base: string): string {
  let name = base;
  for (let i = 1; rw.used.has(name); i++) name = `${base}_${i}`;
  rw.used.add(name);
  return name;
}

/** Whether this layer's weight may be dropped: no other node reads the stored tensor. */
function soleConsumer(rw: Rewrite, layer: LayerInfo): boolean {
  return (rw.index.consumers.get(layer.tensorName) ?? []).length === 1 && !layer.sharedWith?.length && !(layer.via?.length);
}

function mmnbEligible(rw: Rewrite, layer: LayerInfo, node: NodeProto | undefined, q: QuantizedLayer): string | undefined {
  if (!node) return 'consumer node not found';
  if (layer.op !== 'MatMul' && layer.op !== 'Gemm') return `${layer.op} is not a MatMul`;
  if (!soleConsumer(rw, layer)) return 'its weight is shared or reshaped on the way';
  if (node.input?.[1] !== layer.tensorName) return 'its weight is not the direct B input';
  if (layer.op === 'Gemm') {
    const alpha = node.attribute?.find((a) => a.name === 'alpha')?.f ?? 1;
    const beta = node.attribute?.find((a) => a.name === 'beta')?.f ?? 1;
    if (attrInt(node, 'transA', 0) !== 0 || alpha !== 1 || (node.input?.[2] && beta !== 1)) return 'Gemm with transA/alpha/beta';
  }
  if (blockSizeFor(q) === undefined) return q.gIdx ? 'act-order group index' : `group size ${q.groupSize} is not a multiple of 16`;
  if (!integerZeros(q)) return 'zero points are not integers';
  return undefined;
}

function toMatMulNBits(rw: Rewrite, layer: LayerInfo, node: NodeProto, q: QuantizedLayer): ExportedLayer {
  const bs = blockSizeFor(q)!;
  const p = packMatMulNBits(q, bs, integerZeros(q)!);
  const base = layer.tensorName;
  const bName = uniq(rw, `${base}_Q${p.bits}`);
  const sName = uniq(rw, `${base}_scales`);
  const zName = uniq(rw, `${base}_zp`);
  rw.editor.addInitializer(bName, 'uint8', [q.rows, p.blocks, p.blob], p.B);
  const st = scaleType(layer);
  rw.editor.addInitializer(sName, st, [q.rows * p.blocks], floatBytes(st, p.scales));
  rw.editor.addInitializer(zName, 'uint8', [p.zeroPoints.length], p.zeroPoints);
  const out = node.output![0]!;
  const bias = layer.op === 'Gemm' ? node.input?.[2] : undefined;
  const mmOut = bias ? uniq(rw, `${out}_nobias`) : out;
  const nodes: NewNode[] = [{
    opType: 'MatMulNBits', domain: 'com.microsoft', name: uniq(rw, `${node.name || out}_MatMulNBits`),
    inputs: [node.input![0]!, bName, sName, zName], outputs: [mmOut],
    attributes: { K: { i: q.cols }, N: { i: q.rows }, bits: { i: p.bits }, block_size: { i: bs } },
  }];
  if (bias) nodes.push({ opType: 'Add', domain: '', name: uniq(rw, `${node.name || out}_bias`), inputs: [mmOut, bias], outputs: [out], attributes: {} });
  // Nodes are found by identity: exporters leave names empty or repeated.
  const at = rw.editor.graph.node.indexOf(node);
  rw.editor.graph.node.splice(at, 1, ...nodes.map(makeNode));
  rw.editor.removeInitializer(layer.tensorName);
  const bytes = p.B.byteLength + p.scales.length * scaleBytes(layer) + p.zeroPoints.byteLength;
  return { name: layer.name, encoding: 'matmulnbits', bits: q.bits, storedBits: p.bits, bytes, floatBytes: 4 * layer.params, params: layer.params };
}

/**
 * Rebuilds the stored weight tensor from codes: the tensor keeps its name, so the consumer (and any
 * Transpose/Cast on the way) is untouched. Per-channel layers use DequantizeLinear when the opset
 * has per-axis DequantizeLinear (13+); grouped layers, and older opsets, use Cast/Sub/Mul/Reshape.
 */
function toDequantize(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer): ExportedLayer {
  const stored = rw.editor.tensor(layer.tensorName)!;
  const dims = [...(stored.dims ?? [])];
  const target = stored.dataType === DataType.FLOAT16 ? 'float16' : stored.dataType === DataType.BFLOAT16 ? 'bfloat16' : 'float32';
  const groups = groupsOf(q);
  const gs = q.cols / groups;
  const zeros = integerZeros(q)!;
  const base = layer.tensorName;
  const symmetric = zeros.every((z) => z === 1 << (q.bits - 1));
  const consumer = rw.index.consumers.get(layer.tensorName)?.[0];
  const constantNode = rw.editor.graph.node.find((n) => n.opType === 'Constant' && n.output?.[0] === layer.tensorName);
  // Codes in the stored layout: transposed layers store Wᵀ.
  const codesStored = new Uint8Array(q.rows * q.cols);
  if (layer.transposed) {
    for (let r = 0; r < q.rows; r++) for (let c = 0; c < q.cols; c++) codesStored[c * q.rows + r] = q.codes[r * q.cols + c]!;
  } else codesStored.set(q.codes);
  const remove = (): void => {
    if (constantNode) rw.editor.graph.node.splice(rw.editor.graph.node.indexOf(constantNode), 1);
    else rw.editor.removeInitializer(layer.tensorName);
  };
  let bytes: number;
  let encoding: ExportedLayer['encoding'];
  const nodes: NewNode[] = [];
  if (groups === 1 && rw.opset >= 13) {
    // Per output channel: axis 0 of the stored tensor, or 1 when it is stored transposed.
    const x = uniq(rw, `${base}_quantized`);
    const s = uniq(rw, `${base}_scale`);
    const z = uniq(rw, `${base}_zero_point`);
    const shape = layer.transposed ? [q.cols, q.rows] : dims;
    let codes: Uint8Array = codesStored;
    let zp: Uint8Array = zeros;
    let type = 'uint8';
    if (symmetric) {
      // Symmetric codes are stored as signed int8 with zero point 0 (the usual weight QDQ form).
      codes = codesStored.map((v) => (v - (1 << (q.bits - 1))) & 0xff);
      zp = new Uint8Array(zeros.length);
      type = 'int8';
    }
    // DequantizeLinear yields its scale's type; half scales need opset 19, before that a Cast follows.
    const half = target !== 'float32';
    const halfScale = half && rw.opset >= 19;
    rw.editor.addInitializer(x, type, shape, codes);
    rw.editor.addInitializer(s, halfScale ? target : 'float32', [q.rows], floatBytes(halfScale ? target : 'float32', q.scales));
    rw.editor.addInitializer(z, type, [q.rows], zp);
    remove();
    const dq = layer.transposed && dims.length === 2 ? layer.tensorName : uniq(rw, `${base}_dequantized`);
    const dqOut = half && !halfScale ? uniq(rw, `${base}_dequantized_float`) : dq;
    nodes.push({ opType: 'DequantizeLinear', name: uniq(rw, `${base}_DequantizeLinear`), inputs: [x, s, z], outputs: [dqOut], attributes: { axis: { i: layer.transposed ? 1 : 0 } } });
    if (dqOut !== dq) nodes.push({ opType: 'Cast', name: uniq(rw, `${base}_Cast`), inputs: [dqOut], outputs: [dq], attributes: { to: { i: dtypeCode(target) } } });
    if (dq !== layer.tensorName) nodes.push(reshapeTo(rw, dq, dims, layer.tensorName));
    bytes = codes.byteLength + (halfScale ? 2 : 4) * q.rows + zp.byteLength;
    encoding = 'dequantizelinear';
  } else {
    // W = (float(codes) − zero) · scale over [rows, groups, gs], then back to the stored shape.
    const x = uniq(rw, `${base}_codes`);
    const s = uniq(rw, `${base}_scales`);
    const z = uniq(rw, `${base}_zeros`);
    rw.editor.addInitializer(x, 'uint8', [q.rows, groups, gs], q.codes);
    rw.editor.addInitializer(s, target, [q.rows, groups, 1], floatBytes(target, q.scales));
    rw.editor.addInitializer(z, target, [q.rows, groups, 1], floatBytes(target, Float32Array.from(zeros)));
    remove();
    const f = uniq(rw, `${base}_codes_float`);
    const d = uniq(rw, `${base}_centered`);
    const w = uniq(rw, `${base}_grouped`);
    nodes.push({ opType: 'Cast', name: uniq(rw, `${base}_Cast`), inputs: [x], outputs: [f], attributes: { to: { i: dtypeCode(target) } } });
    nodes.push({ opType: 'Sub', name: uniq(rw, `${base}_Sub`), inputs: [f, z], outputs: [d] });
    nodes.push({ opType: 'Mul', name: uniq(rw, `${base}_Mul`), inputs: [d, s], outputs: [w] });
    if (layer.transposed) {
      const flat = uniq(rw, `${base}_rows_cols`);
      nodes.push(reshapeTo(rw, w, [q.rows, q.cols], flat));
      const t = dims.length === 2 ? layer.tensorName : uniq(rw, `${base}_transposed`);
      nodes.push({ opType: 'Transpose', name: uniq(rw, `${base}_Transpose`), inputs: [flat], outputs: [t], attributes: { perm: { ints: [1, 0] } } });
      if (t !== layer.tensorName) nodes.push(reshapeTo(rw, t, dims, layer.tensorName));
    } else {
      nodes.push(reshapeTo(rw, w, dims, layer.tensorName));
    }
    bytes = q.codes.byteLength + 2 * scaleBytes(layer) * q.rows * groups;
    encoding = 'cast-sub-mul';
  }
  // Insert right before the weight's first consumer (found by identity, names may be empty).
  const at = consumer ? rw.editor.graph.node.indexOf(consumer) : -1;
  rw.editor.graph.node.splice(at >= 0 ? at : rw.editor.graph.node.length, 0, ...nodes.map(makeNode));
  return { name: layer.name, encoding, bits: q.bits, storedBits: 8, bytes, floatBytes: 4 * layer.params, params: layer.params };
}

/** QRecipe as the producer, and the provenance keys Inspect and the Models view read back. */
function writeProvenance(editor: ModelEditor, format: ExportFormat, p: NonNullable<ExportOptions['provenance']>): void {
  const proto = editor.model.proto;
  proto.producerName = 'qrecipe';
  proto.producerVersion = VERSION;
  const entries: [string, string | undefined][] = [[PROVENANCE_KEYS.source, p.source], [PROVENANCE_KEYS.recipe, p.recipe], [PROVENANCE_KEYS.run, p.run],
    [PROVENANCE_KEYS.format, format], [PROVENANCE_KEYS.version, VERSION]];
  const keep = (proto.metadataProps ?? []).filter((e) => !e.key?.startsWith('qrecipe.'));
  proto.metadataProps = [...keep, ...entries.filter((e): e is [string, string] => !!e[1]).map(([key, value]) => ({ key, value }))];
}

function reshapeTo(rw: Rewrite, input: string, dims: number[], output: string): NewNode {
  const shapeName = uniq(rw, `${output}_shape`);
  const data = new BigInt64Array(dims.map((d) => BigInt(d)));
  rw.editor.addInitializer(shapeName, 'int64', [dims.length], u8(data));
  return { opType: 'Reshape', name: uniq(rw, `${output}_Reshape`), inputs: [input, shapeName], outputs: [output] };
}

/** Quantised layers loaded one at a time (a big model's codes are not all held at once). */
export interface QuantSource {
  names: readonly string[];
  load(name: string): Promise<QuantizedLayer>;
}

/**
 * Writes `out` from the compressed model (a file, or an editor whose changed weights are made when
 * written) and the quantised layers (loaded one at a time from a QuantSource). Atomic (the model
 * writer writes a temp file and renames it), so a cancelled or failed export leaves no file that
 * looks complete.
 */
export async function exportModel(compressed: string | ModelEditor, quant: QuantizedLayer[] | QuantSource, format: ExportFormat, out: string, opts: ExportOptions = {}): Promise<ExportSummary> {
  const editor = typeof compressed === 'string' ? new ModelEditor(await loadModel(compressed)) : compressed;
  const model = editor.model;
  const compressedModel = model.path;
  const io = graphInterface(model.proto.graph ?? {});
  const inv = inventoryOf(model);
  const source: QuantSource = Array.isArray(quant)
    ? { names: quant.map((q) => q.name), load: async (n) => quant.find((q) => q.name === n)! }
    : quant as QuantSource;
  const index = new GraphIndex(model.proto.graph!);
  const used = new Set<string>();
  for (const n of editor.graph.node) { for (const o of n.output ?? []) used.add(o); if (n.name) used.add(n.name); }
  for (const t of editor.graph.initializer) if (t.name) used.add(t.name);
  const rw: Rewrite = { editor, index, opset: defaultOpset(model), used };
  const warnings: string[] = [];
  const layers: ExportedLayer[] = [];
  const byName = new Map(inv.layers.map((l) => [l.name, l]));
  const rebuilt = new Map<string, string>();
  let needsMs = false;
  for (const qName of source.names) {
    throwIfAborted(opts.signal, 'export');
    const q = await source.load(qName);
    const layer = byName.get(q.name);
    if (!layer) { warnings.push(`layer '${q.name}' of the quantisation store is not in ${compressedModel}; left as is`); continue; }
    if (layer.rows !== q.rows || layer.cols !== q.cols) throw new Error(`layer '${q.name}': ${layer.rows}x${layer.cols} in the model, ${q.rows}x${q.cols} in quant.bin`);
    const floatEntry = (why: string): ExportedLayer => ({ name: layer.name, encoding: 'float', bits: q.bits, bytes: layer.bytes, floatBytes: 4 * layer.params, params: layer.params, why });
    if (format === 'onnx-fakequant') { layers.push(floatEntry('fake-quant format')); continue; }
    const node = (index.consumers.get(layer.tensorName) ?? []).find((n) => n.opType === layer.op);
    const notNBits = format === 'onnx-matmulnbits' ? mmnbEligible(rw, layer, node, q) : 'QDQ format';
    if (!notNBits) {
      layers.push(toMatMulNBits(rw, layer, node!, q));
      needsMs = true;
      continue;
    }
    const cannot = !integerZeros(q) ? 'zero points are not integers' : q.gIdx ? 'act-order group index' : undefined;
    // A tied weight (embedding and lm_head reading one tensor) is rebuilt once; every consumer reads it.
    const first = rebuilt.get(layer.tensorName);
    if (first) {
      warnings.push(`layer '${layer.name}' shares its weight with '${first}' (tied): exported once, as '${first}'`);
      layers.push({ ...floatEntry(`tied to ${first}`), encoding: 'tied', bytes: 0, floatBytes: 0, params: 0 });
      continue;
    }
    if (!cannot) rebuilt.set(layer.tensorName, layer.name);
    if (cannot) {
      warnings.push(`layer '${layer.name}' stays float (dequantised values): ${cannot}`);
      layers.push(floatEntry(cannot));
      continue;
    }
    const e = toDequantize(rw, layer, q);
    layers.push(format === 'onnx-matmulnbits' ? { ...e, why: notNBits } : e);
  }
  if (needsMs) editor.setOpset('com.microsoft', 1);
  writeProvenance(editor, format, opts.provenance ?? {});
  const saved = await editor.save(out, { signal: opts.signal });
  const quantized = layers;
  const quantizedBytes = quantized.reduce((a, l) => a + l.bytes, 0);
  const quantizedFloatBytes = quantized.reduce((a, l) => a + l.floatBytes, 0);
  const params = quantized.reduce((a, l) => a + l.params, 0);
  return {
    path: path.resolve(out), format, bytes: saved.bytes + (saved.externalBytes ?? 0), layers, quantizedBytes, quantizedFloatBytes,
    bitsPerWeight: params ? (8 * quantizedBytes) / params : 0, warnings, io,
  };
}
