/**
 * The contract of the addon's graph executor (native/graph.ts; C++ in native/src/graph/): runs one
 * part of an ONNX model (a transformer block cut by extension/runner/engine/blocks/plan.ts) on the
 * CPU or on a CUDA GPU, with the part's weights uploaded once and kept on the device between runs,
 * so block-wise calibration does not move weights or intermediate tensors across the bus per pass.
 * Taps accumulate a tensor's XᵀX straight into a HessianAccumulator (in GPU memory when both are
 * on the device) instead of returning the tensor.
 *
 * Tensors are dense, row-major. Float tensors are float32 (a part holding another float type is
 * not supported: the caller keeps onnxruntime for it); int64 tensors (shapes, indices) are computed
 * on the host; bool tensors live where their inputs do.
 */
import type { HessianAccumulator } from './hessian';
import type { CallOptions } from './types';

export type GraphAttr = number | string | number[] | GraphTensor;

export interface GraphTensor {
  dims: number[];
  /**
   * float32, int64 or bool (Uint8Array of 0/1) data, row-major. Bool is needed for the side tensors
   * of exported graphs (attention masks made by the prefix and fed to every block).
   */
  data: Float32Array | BigInt64Array | Uint8Array;
}

/** One ONNX node, its attributes decoded (ints as numbers, floats as numbers, tensors as GraphTensor). */
export interface GraphNode {
  op: string;
  /** The node's name in the model (for error messages). */
  name: string;
  /** '' for an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, GraphAttr>;
}

export interface GraphSpec {
  /** Nodes in a topological order. */
  nodes: GraphNode[];
  /** Names fed at every run (the part's boundary and side inputs). */
  inputs: string[];
  /** Names returned by every run. */
  outputs: string[];
  /** Initializers and constants (weights included; replace weights later with setInitializers). */
  initializers: Record<string, GraphTensor>;
}

/** Why a spec cannot run natively: the first unsupported node, or another reason. */
export interface GraphUnsupported {
  node?: string;
  op?: string;
  reason: string;
}

export interface GraphTap {
  /** A tensor of the part whose last dimension is the accumulator's cols; its rows are all the other dims. */
  tensor: string;
  acc: HessianAccumulator;
  /** Calibration samples the run's batch holds (the n of the running mean). */
  samples: number;
}

export interface GraphRunOptions extends CallOptions {
  /** Tensors whose XᵀX is added to an accumulator during the run (a tensor may feed several accumulators). */
  taps?: GraphTap[];
}

export interface GraphExecutor {
  /** 'cuda' when the part's tensors live in GPU memory, else 'cpu'. */
  readonly device: 'cpu' | 'cuda';
  /** Replaces initializers (same dims) with new values, e.g. a block's compressed weights; uploaded at once. */
  setInitializers(values: Record<string, GraphTensor>): void;
  /** Runs the part on one batch; resolves with `spec.outputs`, copied to the host. */
  run(feeds: Record<string, GraphTensor>, opts?: GraphRunOptions): Promise<Record<string, GraphTensor>>;
  /** Bytes the executor holds on its device (weights and the largest run's live tensors). */
  readonly deviceBytes: number;
  /** Frees the device memory; the executor is unusable afterwards. */
  dispose(): void;
}
