// Writes a run's compressed model in one of the export formats. Input: the run's compressed
// (fake-quant, pruned) ONNX model, which holds every final weight, and the quantised codes of
// `quant.bin`. Each quantised layer is written as the cost model plans it (core/cost/formats.ts):
// MatMul/Gemm layers become com.microsoft.MatMulNBits in onnx-matmulnbits (matmulnbits.ts), other
// layers and onnx-qdq get DequantizeLinear int4/int8 or Cast/Sub/Mul (dequantize.ts); the model's
// opset is raised to 21 where 4-bit or blocked DequantizeLinear needs it (opset.ts). Each layer's
// written bytes are recorded by part, the cost model's parts, so sizes can be checked against it.
import path from 'node:path';
import { loadModel, defaultOpset } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../engine/model/writer';
import { GraphIndex } from '../../../language-server/core/model/graph';
import { throwIfAborted } from '../../../language-server/core/util/cancel';
import { EXPORT_FORMATS, planLayer, type ExportFormat, type LayerPlan, type QuantLayout } from '../../../language-server/core/cost/formats';
import { layerCost, modelSize, storesRotations, type ModelSize } from '../../../language-server/core/cost/cost';
import { graphBytes } from '../../../language-server/core/cost/graph';
import type { ModelInventory } from '../../../language-server/core/model/types';
import { integerZeros } from './pack';
import type { QuantizedLayer, QuantMeta } from './quant-store';
import { toMatMulNBits, matmulNBitsBlocker } from './matmulnbits';
import { toDequantize } from './dequantize';
import { raiseToBlockedQdqOpset } from './opset';
import { emptyParts, type ExportedLayer, type Rewrite } from './rewrite';
import type { ValueInfoProto } from '../../../language-server/core/model/onnx-proto';
import { dtypeName } from '../../../language-server/core/model/dtype';
import { VERSION } from '../../../language-server/core/util/version';
import { PROVENANCE_KEYS } from '../../../language-server/core/model/summary';

export { EXPORT_FORMATS, type ExportFormat, type ExportedLayer };

export interface ExportSummary {
  path: string;
  format: ExportFormat;
  /** Size of the written .onnx file (and side file, if any). */
  bytes: number;
  /** The external-data side file, when the model needed one. */
  externalPath?: string;
  layers: ExportedLayer[];
  /** Totals over the quantised layers. */
  quantizedBytes: number;
  quantizedFloatBytes: number;
  /** 8·quantizedBytes / params of the quantised layers (everything they store counted). */
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

export function graphInterface(g: { input?: ValueInfoProto[]; output?: ValueInfoProto[]; initializer?: { name?: string }[] }): GraphInterface {
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const of = (v: ValueInfoProto): { name: string; type: string } => ({ name: v.name ?? '', type: dtypeName(v.type?.tensorType?.elemType) });
  return { inputs: (g.input ?? []).filter((v) => !inits.has(v.name)).map(of), outputs: (g.output ?? []).map(of) };
}

export interface ExportOptions {
  signal?: AbortSignal;
  /** Where the model came from, written as metadata_props (keys: PROVENANCE_KEYS of core/model/summary.ts). */
  provenance?: { source?: string; recipe?: string; run?: string };
}

/** QRecipe as the producer, and the provenance keys Inspect and the Models view read back. */
export function writeProvenance(editor: ModelEditor, format: ExportFormat, p: NonNullable<ExportOptions['provenance']>): void {
  const proto = editor.model.proto;
  proto.producerName = 'qrecipe';
  proto.producerVersion = VERSION;
  const entries: [string, string | undefined][] = [[PROVENANCE_KEYS.source, p.source], [PROVENANCE_KEYS.recipe, p.recipe], [PROVENANCE_KEYS.run, p.run],
    [PROVENANCE_KEYS.format, format], [PROVENANCE_KEYS.version, VERSION]];
  const keep = (proto.metadataProps ?? []).filter((e) => !e.key?.startsWith('qrecipe.'));
  proto.metadataProps = [...keep, ...entries.filter((e): e is [string, string] => !!e[1]).map(([key, value]) => ({ key, value }))];
}

/** The layout the cost model plans a stored quantised layer with (from the layer or its meta). */
export function layoutOf(q: QuantizedLayer | QuantMeta): { bits: number; group: number | 'channel'; symmetric: boolean; outliers: number } {
  const nnz = 'codes' in q ? q.outliers?.values.length ?? 0 : q.outlierCount;
  return { bits: q.bits, group: q.groupSize >= q.cols ? 'channel' : q.groupSize, symmetric: q.symmetric, outliers: nnz / (q.rows * q.cols) };
}

/**
 * The size of a model with these quantised layers written in `format`: the cost model's ModelSize.
 * `own`: layers in a form of their own (vector codes, rotations), with their layouts.
 */
export function predictedSize(
  inv: ModelInventory,
  quant: readonly (QuantizedLayer | QuantMeta)[],
  format: ExportFormat,
  own: readonly { name: string; layout: QuantLayout }[] = [],
): ModelSize {
  const byName = new Map(inv.layers.map((l) => [l.name, l]));
  const all = [...quant.map((q) => ({ name: q.name, layout: layoutOf(q) as QuantLayout })), ...own];
  return modelSize(inv.fileBytes, all.flatMap(({ name, layout }) => {
    const layer = byName.get(name);
    if (!layer) return [];
    const plan = planLayer(layer, format, inv, layout);
    const cost = layerCost(layer, layout, plan);
    return [{ layer, bytes: cost.total, graph: graphBytes(layer, plan, layout, cost.nnz), quantized: true, rotated: storesRotations(layout, plan) }];
  }));
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
export async function exportModel(
  compressed: string | ModelEditor,
  quant: QuantizedLayer[] | QuantSource,
  format: ExportFormat,
  out: string,
  opts: ExportOptions = {},
): Promise<ExportSummary> {
  if (format === 'onnx-decode') throw new Error('onnx-decode is written by export/decode-export.ts (exportDecode)');
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
  // a tied weight (embedding and lm_head reading one tensor) is rebuilt once; every consumer reads it
  const rebuilt = new Map<string, string>();
  let needsMs = false;
  for (const qName of source.names) {
    throwIfAborted(opts.signal, 'export');
    const q = await source.load(qName);
    const layer = byName.get(q.name);
    if (!layer) { warnings.push(`layer '${q.name}' of the quantisation store is not in ${compressedModel}; left as is`); continue; }
    if (layer.rows !== q.rows || layer.cols !== q.cols) throw new Error(`layer '${q.name}': ${layer.rows}x${layer.cols} in the model, ${q.rows}x${q.cols} in quant.bin`);
    const floatEntry = (why: string): ExportedLayer => ({
      name: layer.name, encoding: 'float', bits: q.bits, parts: { ...emptyParts(), codes: layer.bytes }, bytes: layer.bytes, floatBytes: 4 * layer.params, params: layer.params, why,
    });
    let plan: LayerPlan = planLayer(layer, format, inv, layoutOf(q));
    if (plan.encoding === 'float') { layers.push(floatEntry('fake-quant format')); continue; }
    const cannot = !integerZeros(q) ? 'zero points are not integers' : q.gIdx ? 'act-order group index' : undefined;
    const first = rebuilt.get(layer.tensorName);
    if (first) {
      warnings.push(`layer '${layer.name}' shares its weight with '${first}' (tied): exported once, as '${first}'`);
      layers.push({ ...floatEntry(`tied to ${first}`), encoding: 'tied', parts: emptyParts(), bytes: 0, floatBytes: 0, params: 0 });
      continue;
    }
    if (cannot) {
      warnings.push(`layer '${layer.name}' stays float (dequantised values): ${cannot}`);
      layers.push(floatEntry(cannot));
      continue;
    }
    rebuilt.set(layer.tensorName, layer.name);
    const node = (index.consumers.get(layer.tensorName) ?? []).find((n) => n.opType === layer.op);
    let why: string | undefined;
    if (plan.encoding === 'matmulnbits') {
      why = matmulNBitsBlocker(rw, layer, node);
      if (!why) {
        layers.push(toMatMulNBits(rw, layer, node!, q, plan));
        needsMs = true;
        continue;
      }
      warnings.push(`layer '${layer.name}' is written with DequantizeLinear, not MatMulNBits: ${why}`);
      plan = planLayer(layer, 'onnx-qdq', inv, layoutOf(q));
    } else if (format === 'onnx-matmulnbits') why = `${layer.op} is not a MatMul with its own weight`;
    if (plan.encoding === 'dequantizelinear' && (plan.storedBits === 4 || q.groupSize < q.cols)) {
      raiseToBlockedQdqOpset(editor, used);
      rw.opset = defaultOpset(editor.model);
    }
    const e = toDequantize(rw, layer, q, plan);
    layers.push(why ? { ...e, why } : e);
  }
  if (needsMs) editor.setOpset('com.microsoft', 1);
  writeProvenance(editor, format, opts.provenance ?? {});
  const saved = await editor.save(out, { signal: opts.signal });
  const quantizedBytes = layers.reduce((a, l) => a + l.bytes, 0);
  const quantizedFloatBytes = layers.reduce((a, l) => a + l.floatBytes, 0);
  const params = layers.reduce((a, l) => a + l.params, 0);
  return {
    path: path.resolve(out), format, bytes: saved.bytes + (saved.externalBytes ?? 0), ...(saved.externalPath ? { externalPath: saved.externalPath } : {}),
    layers, quantizedBytes, quantizedFloatBytes,
    bitsPerWeight: params ? (8 * quantizedBytes) / params : 0, warnings, io,
  };
}
