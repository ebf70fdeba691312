// The onnx-decode export: every quantised layer stored in its compressed form (vector codes and
// codebooks, packed scalar codes with scales and zero points, incoherence rotations) and rebuilt
// by standard ops under the weight's own name (export/decode-graph.ts); other weights as the
// compressed model has them. Any opset ≥ 7, no custom domain. Bytes by layer are the tensors the
// decode graph wrote for it (rotation factors and sign vectors counted once, at the first layer
// that uses them).
import path from 'node:path';
import { loadModel, defaultOpset } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { throwIfAborted } from '../../../language-server/core/util/cancel';
import { ModelEditor } from '../engine/model/writer';
import type { CompressedLayer } from '../engine/extreme/compressed';
import { DecodeWriter } from './decode-graph';
import { graphInterface, writeProvenance, type ExportOptions, type ExportSummary, type QuantSource } from './onnx-export';
import { emptyParts, type ExportedLayer } from './rewrite';
import { decodeBits } from '../../../language-server/core/cost/formats';
import type { QuantizedLayer } from './quant-store';
import type { CompressedSource } from './compressed-entry';

/** A scalar quantised layer as a compressed layer; a reason when the decode graph cannot take it. */
function scalarForm(q: QuantizedLayer): CompressedLayer | string {
  if (q.gIdx) return 'act-order group index (columns not in contiguous groups)';
  if (q.cols % q.groupSize !== 0) return `group size ${q.groupSize} does not tile its ${q.cols} columns`;
  if (q.zeros.some((z) => !Number.isInteger(z))) return 'zero points are not integers';
  return { name: q.name, rows: q.rows, cols: q.cols, body: { kind: 'scalar', bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric, codes: q.codes, scales: q.scales, zeros: q.zeros } };
}

/**
 * Writes `out` from the compressed model (its changed weights made when written), the scalar
 * quantised layers and the layers compressed in a form of their own. Atomic like every export.
 */
export async function exportDecode(
  compressed: string | ModelEditor,
  quant: QuantizedLayer[] | QuantSource,
  own: CompressedSource,
  out: string,
  opts: ExportOptions = {},
): Promise<ExportSummary> {
  const editor = typeof compressed === 'string' ? new ModelEditor(await loadModel(compressed)) : compressed;
  const model = editor.model;
  const io = graphInterface(model.proto.graph ?? {});
  const inv = inventoryOf(model);
  const byName = new Map(inv.layers.map((l) => [l.name, l]));
  const source: QuantSource = Array.isArray(quant) ? { names: quant.map((q) => q.name), load: async (n) => quant.find((q) => q.name === n)! } : quant as QuantSource;
  const used = new Set<string>();
  for (const n of editor.graph.node) { for (const o of n.output ?? []) used.add(o); if (n.name) used.add(n.name); }
  for (const t of editor.graph.initializer) if (t.name) used.add(t.name);
  const writer = new DecodeWriter(editor, defaultOpset(model), used);
  const warnings: string[] = [];
  const layers: ExportedLayer[] = [];
  const done = new Set<string>();
  const write = (name: string, c: CompressedLayer | string, bits: number): void => {
    const layer = byName.get(name);
    if (!layer) { warnings.push(`layer '${name}' is not in ${model.path}; left as is`); return; }
    const float = { name, bits, floatBytes: 4 * layer.params, params: layer.params };
    if (done.has(layer.tensorName)) { layers.push({ ...float, encoding: 'tied', parts: emptyParts(), bytes: 0, floatBytes: 0, params: 0, why: 'shares its stored weight' }); return; }
    done.add(layer.tensorName);
    if (typeof c === 'string') { warnings.push(`layer '${name}' stays float (dequantised values): ${c}`); layers.push({ ...float, encoding: 'float', parts: { ...emptyParts(), codes: layer.bytes }, bytes: layer.bytes, why: c }); return; }
    const p = writer.write(layer, c);
    const parts = { ...emptyParts(), codes: p.codes, scales: p.scales, zeros: p.zeros, books: p.books, rotations: p.rotations };
    layers.push({ ...float, encoding: 'decode', storedBits: c.body.kind === 'vector' ? (c.body.bits <= 8 ? 8 : 16) : decodeBits(c.body.bits), parts, bytes: p.codes + p.books + p.scales + p.zeros + p.rotations });
  };
  const ownNames = new Set(own.metas.map((m) => m.name));
  for (const { name } of own.metas) {
    throwIfAborted(opts.signal, 'export');
    const c = await own.load(name); // one layer at a time (read back from the run's scratch when spilled)
    const b = c.body;
    write(name, c, b.kind === 'vector' ? (b.codebooks * b.bits) / b.dim : b.bits);
  }
  for (const name of source.names) {
    throwIfAborted(opts.signal, 'export');
    if (ownNames.has(name)) continue;
    const q = await source.load(name);
    write(name, scalarForm(q), q.bits);
  }
  writer.finish();
  writeProvenance(editor, 'onnx-decode', opts.provenance ?? {});
  const saved = await editor.save(out, { signal: opts.signal });
  const quantizedBytes = layers.reduce((a, l) => a + l.bytes, 0);
  const quantizedFloatBytes = layers.reduce((a, l) => a + l.floatBytes, 0);
  const params = layers.reduce((a, l) => a + l.params, 0);
  return {
    path: path.resolve(out), format: 'onnx-decode', bytes: saved.bytes + (saved.externalBytes ?? 0), layers, quantizedBytes, quantizedFloatBytes,
    bitsPerWeight: params ? (8 * quantizedBytes) / params : 0, warnings, io,
  };
}
