/**
 * The layer inventory: what every part of QRecipe (language server, runner, visualizer, extension)
 * knows about a model's compressible weights. Produced by `inventory.ts` from an ONNX graph.
 *
 * Orientation convention used everywhere in QRecipe: a layer's weight is seen as a matrix
 * W ∈ R^{rows×cols} with rows = output features and cols = input features (the dimension a
 * quantisation group or an N:M pattern runs along, and the dimension of the Hessian). ONNX MatMul
 * stores its B operand as [in, out], so for MatMul layers `transposed` is true and the stored tensor
 * is Wᵀ. Conv weights [out, in/groups, kh, kw] are seen as rows = out, cols = in/groups·kh·kw.
 */
export type LayerOp = 'MatMul' | 'Gemm' | 'Conv' | 'Gather';

export interface LayerInfo {
  /** Stable, readable, module-like name, e.g. `layers.3.mlp.up_proj` (no `.weight` suffix). */
  name: string;
  /** Name of the ONNX initializer or Constant node output holding the weight. */
  tensorName: string;
  /** Name of the node that consumes the weight (possibly through Transpose/Reshape/Cast). */
  nodeName: string;
  op: LayerOp;
  /** Shape of the stored tensor, as in the file. */
  shape: number[];
  /** ONNX element type name: 'float32', 'float16', ... */
  dtype: string;
  /** Output features (see orientation above). */
  rows: number;
  /** Input features: the quantisation-group / N:M / Hessian dimension. */
  cols: number;
  /** True when the stored tensor is Wᵀ (ONNX MatMul B operand). */
  transposed: boolean;
  params: number;
  bytes: number;
  /** Name of the activation tensor entering the consuming op (what calibration captures). */
  inputName: string;
  /** Where the weight is stored: a graph initializer or a Constant node's value. */
  source?: 'initializer' | 'constant';
  /** True when the weight's bytes are in an external-data side file. */
  external?: boolean;
  /** Op types between the stored tensor and the consumer (e.g. ['Transpose']), nearest last. */
  via?: string[];
  /** Conv only: kernel spatial size and `group` attribute (groups > 1: grouped/depthwise). */
  kernel?: number[];
  groups?: number;
  /** Names of other layers that consume the same stored tensor (tied weights; the first 32 when there are more). */
  sharedWith?: string[];
  /** Other names patterns match this layer by (naming.ts: the genai builder's `attn` = `self_attn`). */
  aliases?: string[];
}

export interface ModelInventory {
  /** Absolute path of the model file the inventory was read from. */
  path: string;
  opset: number;
  /** Distinct op types of the default domain in the main graph (what an opset change must respect). */
  opTypes: string[];
  layers: LayerInfo[];
  /** Parameters and bytes of all weights, compressible or not. */
  totalParams: number;
  totalBytes: number;
  /** Bytes of the model: the .onnx file plus its tensors in external-data files. */
  fileBytes: number;
  /** Parameters and bytes of the layers' weights, a tensor shared by tied layers counted once. */
  layerParams: number;
  layerBytes: number;
  /** Absolute paths of the external-data side files the model reads (inputs: never written over). */
  externalFiles?: string[];
}
