/**
 * Readable, stable, module-like layer names, the names people know from the model's source
 * (`model.layers.3.mlp.up_proj`), whatever exporter wrote the file. In order of preference:
 *
 * 1. the module path the dynamo exporter (`torch.onnx.export(..., dynamo=True)`) records in each
 *    node's metadata (`pkg.torch.onnx.name_scopes`: the deepest module, e.g.
 *    `model.layers.0.self_attn.q_proj`), since it renames weights (`val_123`) and nodes
 *    (`node_linear_6`) and ties weights under one parameter's name;
 * 2. the weight tensor's name when it is meaningful (`model.layers.3.mlp.up_proj.weight`,
 *    onnxruntime-genai's builder `model.layers.0.attn.q_proj.MatMul.weight`, Paddle's
 *    `conv2d_157.w_0` → `conv2d_157`);
 * 3. the consumer node's path from the TorchScript exporter / Optimum / the genai builder
 *    (`/model/layers.3/mlp/up_proj/MatMul` → `model.layers.3.mlp.up_proj`);
 * 4. `<op>.<k>`, k the layer's index among the graph's layers of that op (stable for a graph).
 *
 * Aliases: onnxruntime-genai's builder calls Llama-family attention `attn` where Hugging Face says
 * `self_attn`; such layers also answer to the Hugging Face path, so llm-compressor recipes
 * (`model.layers.0.self_attn.q_proj`) select them.
 */
import type { NodeProto } from './onnx-proto';

const WEIGHT_SUFFIX = /(\.weight|_weight|\.w_0|\.kernel|\.W|:0)$/;
/** The genai builder names a weight after its node: `….q_proj.MatMul.weight`. */
const OP_SUFFIX = /\.(MatMul|Gemm|Gather|Conv)(_\d+)?$/;
/** Names exporters generate without meaning. */
const GENERATED = /^(onnx::|Constant_|const_|_?v_?\d|\d)|(^|[/._])(Constant|constant)(_output)?_?\d*(_output_0)?$|^(val|arg|_val)_\d+$/;

export function nameFromTensor(tensorName: string): string | undefined {
  if (!tensorName || GENERATED.test(tensorName) || !/[A-Za-z]/.test(tensorName)) return undefined;
  const base = tensorName.replace(WEIGHT_SUFFIX, '').replace(OP_SUFFIX, '');
  return base && /[A-Za-z]/.test(base) ? base : undefined;
}

export function nameFromNode(nodeName: string | undefined, opType: string): string | undefined {
  if (!nodeName) return undefined;
  if (nodeName.includes('/')) {
    const parts = nodeName.split('/').filter((p) => p);
    const last = parts[parts.length - 1] ?? '';
    if (last === opType || new RegExp(`^${opType}(_\\d+)?$`).test(last)) parts.pop();
    const joined = parts.join('.');
    return joined && /[A-Za-z]/.test(joined) ? joined : undefined;
  }
  const generic = new RegExp(`^(node_)?${opType}(_\\d+)?$|^p2o\\.${opType}\\.\\d+$`, 'i');
  if (generic.test(nodeName)) return undefined;
  // The dynamo exporter's own node names (`node_linear_6`, `node_addmm`) carry no module.
  if (/^node_[a-z_]+(_\d+)?$/.test(nodeName)) return undefined;
  return nodeName;
}

/** The strings of a Python list repr as the dynamo exporter writes it: `['', 'model', ...]`. */
function pythonStrings(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const m of text.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)) out.push((m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'));
  return out;
}

/**
 * The module path the dynamo exporter recorded for a node: the deepest entry of
 * `pkg.torch.onnx.name_scopes` that is a module (its `class_hierarchy` entry is a class, not an
 * `aten.` op; without that key, the deepest entry that extends its parent's path).
 */
export function nameFromMetadata(node: NodeProto): string | undefined {
  const props = node.metadataProps;
  if (!props?.length) return undefined;
  const get = (k: string): string | undefined => props.find((p) => p.key === k)?.value;
  const scopes = pythonStrings(get('pkg.torch.onnx.name_scopes'));
  if (!scopes.length) return undefined;
  const classes = pythonStrings(get('pkg.torch.onnx.class_hierarchy'));
  let best: string | undefined;
  if (classes.length === scopes.length) {
    scopes.forEach((s, i) => { if (s && !/^(aten|prims)\.|^</.test(classes[i]!)) best = s; });
  } else {
    for (const s of scopes) if (s && (best === undefined || s.startsWith(`${best}.`))) best = s;
  }
  return best && /[A-Za-z]/.test(best) ? best : undefined;
}

/** Other names a layer answers to in patterns (see the header: the genai builder's `attn`). */
export function aliasesOf(name: string): string[] {
  const m = /^(model\.layers\.\d+\.)attn(\..+)$/.exec(name);
  return m ? [`${m[1]}self_attn${m[2]}`] : [];
}

/**
 * Picks the first unused candidate; when all are taken, numbers the first one. `next` remembers the
 * next number per base, so a model with 100k layers of one name is numbered in linear time.
 */
export function uniqueName(candidates: (string | undefined)[], used: Set<string>, next = new Map<string, number>()): string {
  const list = candidates.filter((c): c is string => !!c);
  for (const c of list) {
    if (!used.has(c)) { used.add(c); return c; }
  }
  const base = list[0] ?? 'layer';
  for (let k = next.get(base) ?? 2; ; k++) {
    const c = `${base}_${k}`;
    if (!used.has(c)) { used.add(c); next.set(base, k + 1); return c; }
  }
}
