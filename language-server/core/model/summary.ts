/**
 * What a model file holds, for people: its float layers (the inventory), the quantised layers a
 * compressed export carries, and where the file came from. Quantised layers are recognised in the
 * three forms QRecipe (and onnxruntime's own quantisers) write:
 * - `com.microsoft.MatMulNBits` (attributes K, N, bits, block_size; packed codes, scales, zeros);
 * - `DequantizeLinear` of an 8/4-bit initializer feeding a MatMul/Gemm/Conv/Gather;
 * - codes → `Cast` → `Sub` zeros → `Mul` scales (grouped codes for opsets without blocked QDQ).
 * The bit width of codes stored in 8-bit containers is read from the codes' range (a 4-bit layer
 * stored in uint8 uses 16 values). Provenance is the model's `metadata_props` (QRecipe writes
 * `qrecipe.*` keys on export, `PROVENANCE_KEYS`).
 */
import { pushAll } from '../util/arrays';
import type { LayerInfo } from './types';
import type { NodeProto, TensorProto } from './onnx-proto';
import { GraphIndex, attrInt } from './graph';
import { dtypeBits, storageBytes } from './dtype';
import { DataType } from './onnx-schema';
import { inventoryOf } from './inventory';
import { defaultOpset, tensorBytes, tensorElements, type OnnxModel } from './reader';
import { nameFromNode, nameFromTensor, uniqueName } from './naming';
import { formatBytes } from '../util/format';

export type QuantEncoding = 'MatMulNBits' | 'DequantizeLinear' | 'Cast/Sub/Mul';

export interface QuantizedLayerInfo {
  name: string;
  encoding: QuantEncoding;
  /** Output and input features (rows × cols, as LayerInfo). */
  rows: number;
  cols: number;
  params: number;
  /** Bits of information per code (from the codes' range when stored in a wider container). */
  bits: number;
  /** Bits per code in the file (MatMulNBits slot width, 8 for int8/uint8 containers). */
  storedBits: number;
  /** Columns per scale, or 'channel' for one scale per output row. */
  group: number | 'channel';
  /** Bytes of the layer's codes, scales, zero points and fp16 outliers in the file. */
  bytes: number;
  /** fp16 outliers kept beside the codes (QRecipe's exports of `outliers`), when there are some. */
  outliers?: number;
  nodeName: string;
}

/** metadata_props keys QRecipe writes on export, in the order they are shown. */
export const PROVENANCE_KEYS = {
  source: 'qrecipe.source_model',
  recipe: 'qrecipe.recipe',
  run: 'qrecipe.run',
  format: 'qrecipe.format',
  version: 'qrecipe.version',
} as const;

export interface ModelSummary {
  path: string;
  opset: number;
  /** Bytes of the .onnx file itself (external data not included). */
  fileBytes: number;
  producer?: string;
  /** Float (not yet compressed) compressible layers. */
  layers: LayerInfo[];
  quantized: QuantizedLayerInfo[];
  /** Parameters and bytes of the float layers, a tensor shared by tied layers counted once. */
  layerParams: number;
  layerBytes: number;
  /** All stored weights: parameters and bytes as stored. */
  totalParams: number;
  totalBytes: number;
  /** The model's metadata_props (QRecipe's provenance among them). */
  metadata: Record<string, string>;
}

const INT_CODES = new Set<number>([DataType.UINT8, DataType.INT8, DataType.UINT4, DataType.INT4]);

/** Bits needed for the spread of 8-bit codes (max − min + 1 values); the container's bits for other types. */
function codeBits(model: OnnxModel, t: TensorProto, limitBytes = 64 * 2 ** 20): number {
  const stored = dtypeBits(t.dataType);
  if ((t.dataType !== DataType.UINT8 && t.dataType !== DataType.INT8) || storageBytes(t.dataType, tensorElements(t)) > limitBytes) return stored;
  const b = tensorBytes(model, t);
  let lo = 255, hi = 0;
  const signed = t.dataType === DataType.INT8;
  for (let i = 0; i < b.length; i++) {
    const v = signed ? ((b[i]! << 24) >> 24) + 128 : b[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi < lo ? stored : Math.max(1, Math.ceil(Math.log2(hi - lo + 1)));
}

function bytesOf(index: GraphIndex, names: (string | undefined)[]): number {
  let n = 0;
  for (const name of names) {
    const c = name ? index.constants.get(name) : undefined;
    if (c) n += storageBytes(c.tensor.dataType, tensorElements(c.tensor));
  }
  return n;
}

/** A readable layer name from an export's tensor (`<weight>_Q4`, `<weight>_codes`) or node name. */
function layerName(tensor: string | undefined, suffix: RegExp, node: NodeProto, nodeSuffix: RegExp, op: string): string | undefined {
  const base = tensor?.replace(suffix, '');
  return (base && base !== tensor ? nameFromTensor(base) : undefined)
    ?? nameFromNode(node.name?.replace(nodeSuffix, ''), op);
}

const CONSUMERS = new Set(['MatMul', 'Gemm', 'Conv', 'Gather']);

export function summarizeModel(model: OnnxModel): ModelSummary {
  const g = model.proto.graph ?? {};
  const index = new GraphIndex(g);
  const inv = inventoryOf(model);
  const used = new Set<string>(inv.layers.map((l) => l.name));
  const quantized: QuantizedLayerInfo[] = [];
  const quantTensors = new Set<string>();
  let k = 0;
  const name = (...c: (string | undefined)[]): string => uniqueName([...c, `quantized.${k++}`], used);

  for (const n of g.node ?? []) {
    if (n.opType === 'MatMulNBits' && n.domain === 'com.microsoft') {
      const K = attrInt(n, 'K', 0), N = attrInt(n, 'N', 0), bits = attrInt(n, 'bits', 4), block = attrInt(n, 'block_size', 0);
      const [, b, scales, zeros] = n.input ?? [];
      const o = outliersAfter(index, n.output?.[0]);
      quantized.push({
        name: name(layerName(b, /_Q\d+(_\d+)?$/, n, /_MatMulNBits(_\d+)?$/, 'MatMul')), encoding: 'MatMulNBits', rows: N, cols: K, params: N * K,
        bits, storedBits: bits, group: block || 'channel', bytes: bytesOf(index, [b, scales, zeros, ...o.tensors]), ...(o.count ? { outliers: o.count } : {}),
        nodeName: n.name ?? '',
      });
      continue;
    }
    if (n.opType === 'DequantizeLinear' && (!n.domain || n.domain === 'ai.onnx')) {
      const [x, scales, zeros] = n.input ?? [];
      const c = x ? index.constants.get(x) : undefined;
      if (!c || !INT_CODES.has(c.tensor.dataType ?? 0)) continue;
      const layer = inv.layers.find((l) => l.tensorName === x);
      if (!layer && !reachesConsumer(index, n.output?.[0])) continue;
      const o = outliersAfter(index, n.output?.[0]);
      const dims = (c.tensor.dims ?? []).map(Number);
      const block = attrInt(n, 'block_size', 0);
      // without the inventory's view: blocks run along the input dimension, a per-axis scale along the output one
      const axis = attrInt(n, 'axis', 1);
      const rowAxis = dims.length === 2 ? (block ? 1 - axis : axis) : 0;
      const rows = layer?.rows ?? dims[rowAxis] ?? 0, cols = layer?.cols ?? tensorElements(c.tensor) / Math.max(1, rows);
      quantTensors.add(x!);
      quantized.push({
        name: name(layerName(x, /_quantized(_\d+)?$/, n, /_DequantizeLinear(_\d+)?$/, 'MatMul'), layer?.name), encoding: 'DequantizeLinear', rows, cols, params: rows * cols,
        bits: codeBits(model, c.tensor), storedBits: dtypeBits(c.tensor.dataType), group: block || 'channel',
        bytes: bytesOf(index, [x, scales, zeros, ...o.tensors]), ...(o.count ? { outliers: o.count } : {}), nodeName: n.name ?? '',
      });
      continue;
    }
    if (n.opType === 'Cast') {
      const x = n.input?.[0];
      const c = x ? index.constants.get(x) : undefined;
      if (!c || !INT_CODES.has(c.tensor.dataType ?? 0)) continue;
      // asymmetric codes: Cast → Sub(zero) → Mul(scale); symmetric (signed) codes: Cast → Mul(scale)
      const next = (index.consumers.get(n.output?.[0] ?? '') ?? []).find((m) => m.opType === 'Sub' || m.opType === 'Mul');
      const sub = next?.opType === 'Sub' ? next : undefined;
      const mul = sub ? (index.consumers.get(sub.output?.[0] ?? '') ?? []).find((m) => m.opType === 'Mul') : next;
      if (!mul || !reachesConsumer(index, mul.output?.[0])) continue;
      const o = outliersAfter(index, mul.output?.[0]);
      const dims = (c.tensor.dims ?? []).map(Number);
      if (dims.length !== 3) continue;
      const [rows, groups, gs] = dims as [number, number, number];
      quantTensors.add(x!);
      quantized.push({
        name: name(layerName(x, /_codes(_\d+)?$/, n, /_Cast(_\d+)?$/, 'MatMul')), encoding: 'Cast/Sub/Mul', rows, cols: groups * gs, params: rows * groups * gs,
        bits: codeBits(model, c.tensor), storedBits: dtypeBits(c.tensor.dataType), group: groups === 1 ? 'channel' : gs,
        bytes: bytesOf(index, [x, sub?.input?.[1], mul.input?.[1], ...o.tensors]), ...(o.count ? { outliers: o.count } : {}), nodeName: n.name ?? '',
      });
    }
  }
  const metadata: Record<string, string> = {};
  for (const e of model.proto.metadataProps ?? []) if (e.key) metadata[e.key] = e.value ?? '';
  const layers = inv.layers.filter((l) => !quantTensors.has(l.tensorName));
  const once = [...new Map(layers.map((l) => [l.tensorName, l])).values()];
  return {
    path: model.path, opset: defaultOpset(model), fileBytes: model.fileBytes,
    ...(model.proto.producerName ? { producer: `${String(model.proto.producerName)}${model.proto.producerVersion ? ` ${String(model.proto.producerVersion)}` : ''}` } : {}),
    layers, quantized, layerParams: once.reduce((a, l) => a + l.params, 0), layerBytes: once.reduce((a, l) => a + l.bytes, 0),
    totalParams: inv.totalParams, totalBytes: inv.totalBytes, metadata,
  };
}

/** Whether a value flows (through layout ops) into a weight input of a MatMul/Gemm/Conv/Gather. */
function reachesConsumer(index: GraphIndex, name: string | undefined, depth = 0): boolean {
  if (!name || depth > 8) return false;
  for (const c of index.consumers.get(name) ?? []) {
    if (CONSUMERS.has(c.opType ?? '')) return true;
    // ScatterElements: QRecipe's outliers scattered into a rebuilt weight (its data input)
    const through = ['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten', 'Slice'].includes(c.opType ?? '')
      || ((c.opType === 'ScatterElements' || c.opType === 'Scatter') && c.input?.[0] === name);
    if (through && reachesConsumer(index, c.output?.[0], depth + 1)) return true;
  }
  return false;
}

/**
 * The fp16 outliers QRecipe writes beside a layer's codes, found from the codes' output: a
 * ScatterElements on the way (added to MatMulNBits' output, or scattered into a rebuilt weight)
 * whose indices and values are constants (through Expand, Gather, Mul, Cast). Their tensors and count.
 */
function outliersAfter(index: GraphIndex, name: string | undefined): { tensors: string[]; count: number } {
  for (let cur = name, depth = 0; cur && depth < 8; depth++) {
    const next = (index.consumers.get(cur) ?? []).find((c) => ['Reshape', 'Cast', 'Slice', 'Transpose', 'ScatterElements', 'Scatter'].includes(c.opType ?? '') && c.input?.[0] === cur);
    if (!next) break;
    if (next.opType === 'ScatterElements' || next.opType === 'Scatter') {
      const tensors = new Set<string>();
      // the inputs that lead to the outliers' constants (Gather's data is the layer's activation)
      const INPUTS: Record<string, number[]> = { Expand: [0], Gather: [1], Mul: [0, 1], Cast: [0] };
      const walk = (v: string | undefined, d: number): void => {
        if (!v || d > 3) return;
        if (index.constants.get(v)) { tensors.add(v); return; }
        const p = index.producer.get(v);
        for (const k of INPUTS[p?.opType ?? ''] ?? []) walk(p!.input?.[k], d + 1);
      };
      walk(next.input?.[1], 0);
      walk(next.input?.[2], 0);
      const values = [...tensors].map((t) => index.constants.get(t)!.tensor).find((t) => t.dataType === DataType.FLOAT16);
      return { tensors: [...tensors], count: values ? tensorElements(values) : 0 };
    }
    cur = next.output?.[0];
  }
  return { tensors: [], count: 0 };
}

/** One line about a model: "28 quantised layers (4-bit) · 2 float layers · 1.41 MiB". */
export function summaryLine(s: ModelSummary): string {
  const parts: string[] = [];
  if (s.quantized.length) {
    const widths = [...new Set(s.quantized.map((q) => q.bits))].sort((a, b) => a - b);
    parts.push(`${s.quantized.length} quantised layer${s.quantized.length === 1 ? '' : 's'} (${widths.map((b) => `${b}-bit`).join('/')})`);
  }
  if (s.layers.length || !s.quantized.length) parts.push(`${s.layers.length} ${s.quantized.length ? 'float ' : ''}layer${s.layers.length === 1 ? '' : 's'}`);
  parts.push(formatBytes(s.totalBytes));
  return parts.join(' · ');
}

/** The provenance entries worth showing, as label → value. */
export function provenanceOf(s: ModelSummary): { label: string; value: string }[] {
  const labels: Record<keyof typeof PROVENANCE_KEYS, string> = { source: 'source model', recipe: 'recipe', run: 'run', format: 'format', version: 'written by QRecipe' };
  return (Object.keys(PROVENANCE_KEYS) as (keyof typeof PROVENANCE_KEYS)[])
    .filter((k) => s.metadata[PROVENANCE_KEYS[k]])
    .map((k) => ({ label: labels[k], value: s.metadata[PROVENANCE_KEYS[k]]! }));
}

/** The text Inspect Model shows (and `qrecipe inspect` prints): float layers, quantised layers, provenance. */
export function formatModelSummary(s: ModelSummary): string {
  const table = (head: string[], rows: string[][], right: Set<number>): string[] => {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]): string => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
    return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
  };
  const out = [`${s.path}  (opset ${s.opset}${s.producer ? `, written by ${s.producer}` : ''})`, ''];
  const prov = provenanceOf(s);
  if (prov.length) {
    out.push('Provenance:');
    const w = Math.max(...prov.map((p) => p.label.length));
    for (const p of prov) out.push(`  ${p.label.padEnd(w)}  ${p.value}`);
    out.push('');
  }
  if (s.quantized.length) {
    out.push(`Quantised layers (${s.quantized.length}):`);
    pushAll(out, table(['layer', 'encoding', 'rows x cols', 'bits', 'group', 'params', 'bytes'], s.quantized.map((q) => [
      q.name, q.encoding, `${q.rows} x ${q.cols}`, q.bits === q.storedBits ? `${q.bits}` : `${q.bits} (in ${q.storedBits})`,
      q.group === 'channel' ? 'channel' : String(q.group), q.params.toLocaleString('en-US'), formatBytes(q.bytes),
    ]), new Set([3, 5, 6])));
    const qp = s.quantized.reduce((a, q) => a + q.params, 0);
    const qb = s.quantized.reduce((a, q) => a + q.bytes, 0);
    out.push('', `${s.quantized.length} quantised layers: ${qp.toLocaleString('en-US')} params in ${formatBytes(qb)} = ${qp ? ((8 * qb) / qp).toFixed(2) : '0'} bits per weight (scales and zero points included)`, '');
  }
  if (s.layers.length) {
    out.push(`${s.quantized.length ? 'Float layers' : 'Compressible layers'} (${s.layers.length}):`);
    pushAll(out, table(['layer', 'op', 'shape', 'rows x cols', 'dtype', 'params', 'bytes'], s.layers.map((l) => [
      l.name, l.op + (l.groups && l.groups > 1 ? `/g${l.groups}` : ''), l.shape.join('x'), `${l.rows} x ${l.cols}`,
      l.dtype, l.params.toLocaleString('en-US'), formatBytes(l.bytes),
    ]), new Set([5, 6])));
    const tied = new Map<string, string[]>();
    for (const l of s.layers) if (l.sharedWith?.length) tied.set(l.tensorName, [...(tied.get(l.tensorName) ?? []), l.name]);
    out.push('', `${s.layers.length} ${s.quantized.length ? 'float' : 'compressible'} layers: ${s.layerParams.toLocaleString('en-US')} params, `
      + `${formatBytes(s.layerBytes)}${tied.size ? ' (tied weights counted once)' : ''}`);
    for (const [t, names] of tied) out.push(`tied: ${names.join(' = ')} (one tensor, ${t})`);
  }
  out.push(s.quantized.length ? `all stored tensors: ${formatBytes(s.totalBytes)}; file ${formatBytes(s.fileBytes)}`
    : `all weights: ${s.totalParams.toLocaleString('en-US')} params, ${formatBytes(s.totalBytes)}; file ${formatBytes(s.fileBytes)}`);
  return out.join('\n');
}
