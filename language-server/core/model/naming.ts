/**
 * Readable, stable, module-like layer names. A layer is named after its weight tensor when that
 * name is meaningful (`model.layers.3.mlp.up_proj.weight` → `model.layers.3.mlp.up_proj`,
 * Paddle's `conv2d_157.w_0` → `conv2d_157`), else after its consumer node's exporter path
 * (`/model/layers.3/mlp/up_proj/MatMul` → `model.layers.3.mlp.up_proj`), else `<op>.<k>` with k the
 * layer's index among the graph's layers of that op, which is stable for a given graph.
 */

const WEIGHT_SUFFIX = /(\.weight|_weight|\.w_0|\.kernel|\.W|:0)$/;
/** Names exporters generate without meaning. */
const GENERATED = /^(onnx::|Constant_|const_|_?v_?\d|\d)|(^|[/._])(Constant|constant)(_output)?_?\d*(_output_0)?$|^(val|arg|_val)_\d+$/;

export function nameFromTensor(tensorName: string): string | undefined {
  if (!tensorName || GENERATED.test(tensorName) || !/[A-Za-z]/.test(tensorName)) return undefined;
  const base = tensorName.replace(WEIGHT_SUFFIX, '');
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
  return nodeName;
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
