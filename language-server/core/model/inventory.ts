/**
 * The layer inventory of an ONNX model: every compressible weight (MatMul/Gemm B operands, Conv
 * kernels, Gather embedding tables) with its name, shape and orientation (see types.ts). Reads the
 * graph only: no tensor bytes are decoded, external data is only checked for presence.
 */
import type { LayerInfo, LayerOp, ModelInventory } from './types';
import { GraphIndex, attrInt, attrInts, type WeightPath } from './graph';
import { dtypeName, isFloatType, isWeightType, storageBytes } from './dtype';
import { loadModel, defaultOpset, graphTensors, tensorElements, tensorFloat32, isExternal, externalRef, ModelFileError, type OnnxModel, type LoadOptions } from './reader';
import { graphProblem } from './graph-check';
import { MAX_SHARED_NAMES } from '../util/limits';
import { aliasesOf, nameFromMetadata, nameFromNode, nameFromTensor, uniqueName } from './naming';
import type { NodeProto } from './onnx-proto';

export type ReadInventoryOptions = LoadOptions;

/**
 * Reads a model file and lists its compressible layers (the language server's and the runner's
 * preflight entry point). A malformed graph (cycle, self-loop, missing input, value produced twice)
 * is refused here, naming the node, so nothing is computed on it.
 */
export async function readInventory(path: string, opts: ReadInventoryOptions = {}): Promise<ModelInventory> {
  const model = await loadModel(path, opts);
  const bad = graphProblem(model.proto.graph ?? {});
  if (bad) throw new ModelFileError(model.path, `malformed graph: ${bad}`);
  return inventoryOf(model);
}

interface Candidate { node: NodeProto; op: LayerOp; weight: WeightPath; inputName: string }

function isDefaultDomain(n: NodeProto): boolean {
  return !n.domain || n.domain === 'ai.onnx';
}

const RESHAPES = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten']);
const NEUTRAL = new Set(['Cast', 'CastLike', 'Identity', 'DequantizeLinear']);

/** Number of 2-D transposes (perm absent or [1,0]) on the weight's way to its consumer. */
function transposeCount(w: WeightPath): number | undefined {
  let count = 0;
  for (const n of w.via) {
    if (n.opType === 'Transpose') {
      const perm = attrInts(n, 'perm');
      if (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return undefined;
      count++;
    } else if (!NEUTRAL.has(n.opType ?? '') && !RESHAPES.has(n.opType ?? '')) {
      return undefined;
    }
  }
  return count;
}

/**
 * The 2-D shape the consumer sees, in the stored (row-major) element order: the stored shape, or
 * the target of the reshape-like op nearest the consumer. Undefined when it is not 2-D or when a
 * reshape and a transpose are mixed (the rows × cols view would not be a plain reinterpretation).
 */
function consumerShape(model: OnnxModel, index: GraphIndex, w: WeightPath, stored: number[]): [number, number] | undefined {
  const reshapes = w.via.filter((n) => RESHAPES.has(n.opType ?? ''));
  const squeeze = (d: number[]): number[] => d.filter((x) => x !== 1);
  if (!reshapes.length) {
    const d = stored.length === 2 ? stored : squeeze(stored);
    return d.length === 2 ? [d[0]!, d[1]!] : undefined;
  }
  if (w.via.some((n) => n.opType === 'Transpose')) return undefined;
  const last = reshapes[reshapes.length - 1]!;
  const total = stored.reduce((a, b) => a * b, 1);
  let d: number[];
  if (last.opType === 'Reshape') {
    const src = index.constants.get(last.input?.[1] ?? '');
    if (!src) return undefined;
    const target = Array.from(tensorFloat32(model, src.tensor));
    const known = target.reduce((a, v) => (v > 0 ? a * v : a), 1);
    d = target.map((v) => (v === -1 ? total / known : v));
    if (d.some((v) => v <= 0)) return undefined; // 0 = "copy the input dim": not followed here
  } else if (last.opType === 'Flatten') {
    const axis = attrInt(last, 'axis', 1);
    const a = stored.slice(0, axis).reduce((x, y) => x * y, 1);
    d = [a, total / a];
  } else {
    d = squeeze(stored);
  }
  return d.length === 2 && d[0]! * d[1]! === total ? [d[0]!, d[1]!] : undefined;
}

function findCandidates(index: GraphIndex): Candidate[] {
  const out: Candidate[] = [];
  for (const node of index.graph.node ?? []) {
    if (!isDefaultDomain(node)) continue;
    const ins = node.input ?? [];
    const op = node.opType;
    if (op === 'MatMul' || op === 'Gemm' || op === 'Conv') {
      const w = ins[1] ? index.traceWeight(ins[1]) : undefined;
      const x = ins[0] ?? '';
      if (!w || !x || index.constants.has(x)) continue;
      out.push({ node, op, weight: w, inputName: x });
    } else if (op === 'Gather') {
      const w = ins[0] ? index.traceWeight(ins[0]) : undefined;
      const idx = ins[1] ?? '';
      if (!w || !idx || index.isConstant(idx) || attrInt(node, 'axis', 0) !== 0) continue;
      if (!isFloatType(w.source.tensor.dataType) && w.via.length === 0) continue; // shape/index tables
      out.push({ node, op, weight: w, inputName: idx });
    }
  }
  return out;
}

function describe(model: OnnxModel, index: GraphIndex, c: Candidate): Omit<LayerInfo, 'name' | 'sharedWith'> | undefined {
  const t = c.weight.source.tensor;
  const shape = (t.dims ?? []).map(Number);
  if (!isWeightType(t.dataType)) return undefined;
  const params = tensorElements(t);
  let rows: number;
  let cols: number;
  let transposed = false;
  const flips = transposeCount(c.weight);
  const extra: Partial<LayerInfo> = {};
  if (c.op === 'Conv') {
    if (shape.length < 3 || c.weight.via.some((n) => n.opType === 'Transpose' || n.opType === 'Reshape')) return undefined;
    rows = shape[0]!;
    cols = params / rows;
    extra.kernel = shape.slice(2);
    extra.groups = attrInt(c.node, 'group', 1);
  } else {
    const seen = flips === undefined ? undefined : consumerShape(model, index, c.weight, shape);
    if (!seen || flips === undefined) return undefined;
    // Stored [K, N] (MatMul B, Gemm B without transB) is Wᵀ; each 2-D transpose on the way flips it.
    const storedIsInOut = c.op === 'MatMul' || (c.op === 'Gemm' && attrInt(c.node, 'transB', 0) === 0);
    transposed = c.op !== 'Gather' && storedIsInOut !== (flips % 2 === 1);
    if (c.op === 'Gather') {
      if (flips % 2 === 1 || (shape.length !== 2 && !c.weight.via.some((n) => RESHAPES.has(n.opType ?? '')))) return undefined;
      [rows, cols] = seen;
    } else {
      [rows, cols] = transposed ? [seen[1], seen[0]] : seen;
    }
  }
  return {
    tensorName: c.weight.name,
    nodeName: c.node.name ?? '',
    op: c.op,
    shape,
    dtype: dtypeName(t.dataType),
    rows,
    cols,
    transposed,
    params,
    bytes: storageBytes(t.dataType, params),
    inputName: c.inputName,
    source: c.weight.source.kind,
    external: isExternal(t),
    via: c.weight.via.map((n) => n.opType ?? ''),
    ...extra,
  };
}

/** The inventory of an already loaded model. */
export function inventoryOf(model: OnnxModel): ModelInventory {
  const index = new GraphIndex(model.proto.graph ?? {});
  const used = new Set<string>();
  const numbered = new Map<string, number>();
  const perOp = new Map<string, number>();
  const layers: LayerInfo[] = [];
  for (const c of findCandidates(index)) {
    const d = describe(model, index, c);
    if (!d) continue;
    const k = perOp.get(c.op) ?? 0;
    perOp.set(c.op, k + 1);
    const name = uniqueName([nameFromMetadata(c.node), nameFromTensor(d.tensorName), nameFromNode(c.node.name, c.op), `${c.op.toLowerCase()}.${k}`], used, numbered);
    const aliases = aliasesOf(name);
    layers.push({ name, ...d, ...(aliases.length ? { aliases } : {}) });
  }
  const byTensor = new Map<string, LayerInfo[]>();
  for (const l of layers) { const g = byTensor.get(l.tensorName); if (g) g.push(l); else byTensor.set(l.tensorName, [l]); }
  for (const group of byTensor.values()) {
    // at most MAX_SHARED_NAMES others each: a weight read by 100k nodes must not make 10^10 names
    if (group.length > 1) for (const l of group) l.sharedWith = group.slice(0, MAX_SHARED_NAMES + 1).filter((o) => o !== l).slice(0, MAX_SHARED_NAMES).map((o) => o.name);
  }
  let totalParams = 0;
  let totalBytes = 0;
  const externalFiles = new Set<string>();
  let externalBytes = 0;
  for (const { tensor } of graphTensors(model)) {
    if (isExternal(tensor)) {
      externalFiles.add(externalRef(model, tensor).file);
      externalBytes += storageBytes(tensor.dataType, tensorElements(tensor));
    }
    if (!isWeightType(tensor.dataType)) continue;
    const n = tensorElements(tensor);
    totalParams += n;
    totalBytes += storageBytes(tensor.dataType, n);
  }
  const opTypes = [...new Set((model.proto.graph?.node ?? []).filter(isDefaultDomain).map((n) => n.opType ?? ''))].sort();
  const own = storedOnce(layers);
  return {
    path: model.path, opset: defaultOpset(model), opTypes, layers, totalParams, totalBytes, fileBytes: model.fileBytes + externalBytes,
    layerParams: own.params, layerBytes: own.bytes, ...(externalFiles.size ? { externalFiles: [...externalFiles] } : {}),
  };
}
/**
 * Parameters and bytes of these layers' stored weights, each stored tensor counted once: tied
 * layers (an embedding and the lm_head reading one tensor) share their weight. The one definition
 * of "the compressible weights' size" used by inspect, the checker's estimates and the runner.
 */
export function storedOnce(layers: readonly LayerInfo[]): { params: number; bytes: number; tensors: number } {
  const seen = new Set<string>();
  let params = 0;
  let bytes = 0;
  for (const l of layers) {
    if (seen.has(l.tensorName)) continue;
    seen.add(l.tensorName);
    params += l.params;
    bytes += l.bytes;
  }
  return { params, bytes, tensors: seen.size };
}
