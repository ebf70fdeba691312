// Synthetic layer inventories and an in-memory analysis host for recipe tests.
import type { LayerInfo, LayerOp, ModelInventory } from '../../../language-server/core/model/types';
import type { AnalysisHost } from '../../../language-server/core/recipe/host';

export function layer(name: string, rows: number, cols: number, op: LayerOp = 'MatMul'): LayerInfo {
  return {
    name, tensorName: `${name}.weight`, nodeName: `${name}/MatMul`, op, shape: op === 'MatMul' ? [cols, rows] : [rows, cols],
    dtype: 'float32', rows, cols, transposed: op === 'MatMul', params: rows * cols, bytes: rows * cols * 4, inputName: `${name}.in`,
  };
}

/** A tiny transformer: d_model 192, MLP 512, `blocks` blocks, byte vocabulary. Optional extra layers. */
export function tinyLm(blocks = 2, extra: LayerInfo[] = [], path = '/work/model.onnx'): ModelInventory {
  const layers: LayerInfo[] = [layer('embed', 256, 192, 'Gather')];
  for (let i = 0; i < blocks; i++) {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) layers.push(layer(`layers.${i}.attn.${p}`, 192, 192));
    layers.push(layer(`layers.${i}.mlp.up_proj`, 512, 192));
    layers.push(layer(`layers.${i}.mlp.down_proj`, 192, 512));
  }
  layers.push(layer('lm_head', 256, 192));
  for (const l of extra) layers.push(l);
  const totalParams = layers.reduce((a, l) => a + l.params, 0);
  // a file of the weights plus 20 KB of graph
  return {
    path, opset: 17, opTypes: ['Gather', 'MatMul', 'ReduceMean'], layers, totalParams, totalBytes: totalParams * 4, fileBytes: totalParams * 4 + 20_000,
    layerParams: totalParams, layerBytes: totalParams * 4,
  };
}

/** A host where `files` exist (with their text) and every path under `existing` exists too. */
export function memoryHost(files: Record<string, string>, inventory?: ModelInventory | Error, existing: string[] = ['/work/']): AnalysisHost & { inventoryCalls: number } {
  const host = {
    inventoryCalls: 0,
    readFile: async (p: string) => (p in files ? files[p] : new Error(`ENOENT: ${p}`)),
    exists: async (p: string) => p in files || existing.some((e) => p.startsWith(e)),
    inventory: inventory ? async () => { host.inventoryCalls++; return inventory; } : undefined,
  };
  return host;
}
