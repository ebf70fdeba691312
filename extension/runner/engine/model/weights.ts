/**
 * A layer's weight as a float32 matrix in QRecipe's orientation (rows = out, cols = in, row-major;
 * see types.ts), and writing such a matrix back into the stored layout and element type.
 */
import type { LayerInfo } from '../../../../language-server/core/model/types';
import type { ModelEditor } from './writer';
import { bytesToFloat32, float32ToBytes } from '../../../../language-server/core/model/dtype';

function checkSupported(layer: LayerInfo): void {
  if (layer.via?.includes('DequantizeLinear')) {
    throw new Error(`layer '${layer.name}': its weight is stored quantised (DequantizeLinear); float access is not supported`);
  }
}

/**
 * NaN or infinite weights cannot be quantised or pruned meaningfully (a NaN poisons its group's
 * scale: an all-NaN group dequantised to −2.86e8): the layer is refused, naming where (issue 20 #6).
 * `stored` is in the stored layout; the position is reported in QRecipe's rows × cols orientation.
 */
function checkFinite(layer: LayerInfo, stored: Float32Array): void {
  let nan = 0, inf = 0, first = -1;
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i]!;
    if (v - v !== 0) { if (Number.isNaN(v)) nan++; else inf++; if (first < 0) first = i; }
  }
  if (first < 0) return;
  const [r, c] = layer.transposed ? [first % layer.rows, Math.floor(first / layer.rows)] : [Math.floor(first / layer.cols), first % layer.cols];
  throw new Error(`layer '${layer.name}': its weight holds ${nan ? `${nan} NaN` : ''}${nan && inf ? ' and ' : ''}${inf ? `${inf} infinite` : ''} value${nan + inf === 1 ? '' : 's'} (first at row ${r}, column ${c}); QRecipe does not compress non-finite weights: fix the model, or leave the layer out with \`ignore\``);
}

/** Transposes a row-major r×c matrix into a new c×r one. */
export function transpose(src: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  const B = 64;
  for (let i0 = 0; i0 < r; i0 += B) {
    for (let j0 = 0; j0 < c; j0 += B) {
      const i1 = Math.min(r, i0 + B);
      const j1 = Math.min(c, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * r + i] = src[i * c + j]!;
    }
  }
  return out;
}

/** The layer's weight W (rows × cols, row-major float32). */
export async function getLayerWeight(editor: ModelEditor, layer: LayerInfo): Promise<Float32Array> {
  checkSupported(layer);
  const t = editor.tensor(layer.tensorName);
  if (!t) throw new Error(`layer '${layer.name}': tensor '${layer.tensorName}' not found`);
  const stored = bytesToFloat32(t.dataType, await editor.bytes(t), layer.params);
  checkFinite(layer, stored);
  return layer.transposed ? transpose(stored, layer.cols, layer.rows) : stored;
}

/** Stores W (rows × cols, row-major) as the layer's weight, in its stored layout and float type. */
export function setLayerWeight(editor: ModelEditor, layer: LayerInfo, w: Float32Array): void {
  checkSupported(layer);
  if (w.length !== layer.rows * layer.cols) {
    throw new Error(`layer '${layer.name}': ${w.length} values given, ${layer.rows}x${layer.cols} expected`);
  }
  editor.setTensorFloat32(layer.tensorName, layer.transposed ? transpose(w, layer.rows, layer.cols) : w);
}

/**
 * Makes the layer's weight come from `get` (rows × cols, row-major) when the model is written: the
 * values are converted to the stored layout and float type then, and not held before (a weight
 * stored in a Constant node is set at once).
 */
export async function setLayerWeightLazy(editor: ModelEditor, layer: LayerInfo, get: () => Promise<Float32Array>): Promise<void> {
  checkSupported(layer);
  // A Constant node's value is written with the graph, not streamed: set it now.
  if (layer.source === 'constant') { setLayerWeight(editor, layer, await get()); return; }
  const t = editor.tensor(layer.tensorName);
  if (!t) throw new Error(`layer '${layer.name}': tensor '${layer.tensorName}' not found`);
  const dataType = t.dataType ?? 1;
  editor.setTensorData(layer.tensorName, async () => {
    const w = await get();
    if (w.length !== layer.rows * layer.cols) throw new Error(`layer '${layer.name}': ${w.length} values given, ${layer.rows}x${layer.cols} expected`);
    return float32ToBytes(dataType, layer.transposed ? transpose(w, layer.rows, layer.cols) : w);
  });
}
