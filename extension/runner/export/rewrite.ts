// What the layer writers of an export share: the model being rewritten, unique names, small
// helper nodes, typed bytes, and how the written tensors are counted (the cost model's parts).
import type { GraphIndex } from '../../../language-server/core/model/graph';
import type { LayerInfo } from '../../../language-server/core/model/types';
import type { Encoding } from '../../../language-server/core/cost/formats';
import type { LayerCost } from '../../../language-server/core/cost/cost';
import { dtypeCode, float32ToBytes } from '../../../language-server/core/model/dtype';
import type { ModelEditor, NewNode } from '../engine/model/writer';

export interface Rewrite { editor: ModelEditor; index: GraphIndex; opset: number; used: Set<string> }

/** How one quantised layer ended up in the file. */
export interface ExportedLayer {
  name: string;
  encoding: Encoding | 'tied';
  bits: number;
  /** Bits per code in the file (the container: MatMulNBits 2/4/8, DequantizeLinear 4/8). */
  storedBits?: number;
  /** Bytes of the layer's tensors in the file, by part (the cost model's LayerCost), and as float32. */
  parts: Omit<LayerCost, 'total'>;
  bytes: number;
  floatBytes: number;
  params: number;
  why?: string;
}

export const u8 = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function uniq(rw: Rewrite, base: string): string {
  let name = base;
  for (let i = 1; rw.used.has(name); i++) name = `${base}_${i}`;
  rw.used.add(name);
  return name;
}

/**
 * A short unique name for an intermediate value of the helper nodes (outliers), which are written
 * without node names: a graph of hundreds of layers stays small (what the cost model leaves out).
 */
export function temp(rw: Rewrite): string {
  return uniq(rw, `_q${rw.used.size.toString(36)}`);
}

/** An int64 shape initializer and the Reshape of `input` to it. */
export function reshapeTo(rw: Rewrite, input: string, dims: number[], output: string): NewNode {
  const shapeName = uniq(rw, `${output}_shape`);
  const data = new BigInt64Array(dims.map((d) => BigInt(d)));
  rw.editor.addInitializer(shapeName, 'int64', [dims.length], u8(data));
  return { opType: 'Reshape', name: uniq(rw, `${output}_Reshape`), inputs: [input, shapeName], outputs: [output] };
}

/** The float type of a layer's scales and rebuilt values: its own half type, else float32. */
export function floatTypeOf(layer: LayerInfo): 'float32' | 'float16' | 'bfloat16' {
  return layer.dtype === 'float16' || layer.dtype === 'bfloat16' ? layer.dtype : 'float32';
}

/** Float values stored as `type` (rounded to nearest even for the half types). */
export function floatData(type: 'float32' | 'float16' | 'bfloat16', v: Float32Array): Uint8Array {
  return type === 'float32' ? u8(v) : float32ToBytes(dtypeCode(type), v);
}

/** Adds an initializer and returns its byte length (what the layer's parts count). */
export function addTensor(rw: Rewrite, name: string, dtype: string, dims: number[], data: Uint8Array): number {
  rw.editor.addInitializer(name, dtype, dims, data);
  return data.byteLength;
}

export function emptyParts(): Omit<LayerCost, 'total'> {
  return { codes: 0, padding: 0, scales: 0, zeros: 0, outliers: 0, nnz: 0 };
}

export function partsTotal(p: Omit<LayerCost, 'total'>): number {
  return p.codes + p.scales + p.zeros + p.outliers;
}
