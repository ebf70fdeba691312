/**
 * Gradient rules of the layout and indexing ops: Transpose, Reshape-like ops, Concat, Split, Slice,
 * Gather, GatherElements, Expand, Tile, Pad. Static sizes (split sizes, slice bounds) come from the
 * probe, which the gradient model is specific to.
 */
import { DataType } from '../../../../../language-server/core/model/onnx-schema';
import { ai, type GraphBuilder } from '../builder';
import { UnsupportedForm, normAxis, range, type Rule, type RuleContext } from './types';

const reshapeBack: Rule = (c) => (c.needs[0] ? [c.b.reshapeLike(c.gradOut[0]!, c.inputs[0]!)] : []);

const transpose: Rule = (c) => {
  if (!c.needs[0]) return [];
  const rank = c.info(c.inputs[0]!).dims.length;
  const perm = c.attrInts('perm') ?? range(0, rank).reverse();
  const inv = new Array<number>(rank);
  perm.forEach((p, k) => { inv[p] = k; });
  return [c.b.transpose(c.gradOut[0]!, inv)];
};

function zerosFor(c: RuleContext, value: string): string {
  const i = c.info(value);
  return c.b.zeros(i.dims, i.dtype);
}

const concat: Rule = (c) => {
  const outDims = c.info(c.outputs[0]!).dims;
  const axis = normAxis(c.attrI('axis', 0), outDims.length);
  let offset = 0;
  return c.inputs.map((x, k) => {
    const size = c.info(x).dims[axis]!;
    const start = offset;
    offset += size;
    if (!c.needs[k]) return undefined;
    return c.b.slice(c.gradOut[0]!, [start], [start + size], [axis]);
  });
};

const split: Rule = (c) => {
  if (!c.needs[0]) return [];
  const rank = c.info(c.inputs[0]!).dims.length;
  const axis = normAxis(c.attrI('axis', 0), rank);
  const parts = c.outputs.map((o, k) => c.gradOut[k] ?? (o ? zerosFor(c, o) : undefined));
  if (parts.some((p) => p === undefined)) throw new UnsupportedForm('Split with an omitted output');
  return [c.b.op1('Concat', parts as string[], [ai('axis', axis)])];
};

interface SliceAxis { axis: number; start: number; step: number; count: number; dim: number }

/** Resolved slice per sliced axis (ONNX clamping rules). */
function sliceAxes(c: RuleContext): SliceAxis[] {
  const dims = c.info(c.inputs[0]!).dims;
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (c.b.opset < 10) {
    starts = c.attrInts('starts');
    ends = c.attrInts('ends');
    axes = c.attrInts('axes');
  } else {
    const read = (k: number): number[] | undefined => (c.inputs[k] ? c.constValues(c.inputs[k]) : undefined);
    starts = read(1);
    ends = read(2);
    axes = read(3);
    steps = read(4);
    if (!starts || !ends || (c.inputs[3] && !axes) || (c.inputs[4] && !steps)) throw new UnsupportedForm('Slice bounds unknown');
  }
  if (!starts || !ends) throw new UnsupportedForm('Slice without starts/ends');
  const ax = axes ?? range(0, starts.length);
  return ax.map((a0, k) => {
    const axis = normAxis(a0, dims.length);
    const d = dims[axis]!;
    const step = steps?.[k] ?? 1;
    let s = starts[k]!;
    let e = ends[k]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    const count = Math.max(0, Math.ceil((e - s) / step));
    return { axis, start: s, step, count, dim: d };
  });
}

/** Scatters `g` (axis `axis` of length count) into length `dim` at indices start + k·step by a 0/1 matrix. */
function spread(b: GraphBuilder, g: string, rank: number, a: SliceAxis, dtype: number): string {
  const sel = new Array<number>(a.count * a.dim).fill(0);
  for (let k = 0; k < a.count; k++) sel[k * a.dim + a.start + k * a.step] = 1;
  const S = b.constant(dtype, [a.count, a.dim], sel);
  const perm = range(0, rank);
  [perm[a.axis], perm[rank - 1]] = [perm[rank - 1]!, perm[a.axis]!];
  const moved = a.axis === rank - 1 ? g : b.transpose(g, perm);
  const r = b.op1('MatMul', [moved, S]);
  return a.axis === rank - 1 ? r : b.transpose(r, perm);
}

const slice: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const info = c.info(c.inputs[0]!);
  const rank = info.dims.length;
  const axes = sliceAxes(c);
  if (axes.some((a) => a.count === 0)) return [zerosFor(c, c.inputs[0]!)];
  let g = c.gradOut[0]!;
  const pads = new Array<number>(2 * rank).fill(0);
  for (const a of axes) {
    if (a.step === 1) {
      pads[a.axis] = a.start;
      pads[rank + a.axis] = a.dim - a.start - a.count;
    } else {
      g = spread(b, g, rank, a, info.dtype);
    }
  }
  return [b.pad(g, pads, 0, info.dtype)];
};

/** Gradient of gathering along `axis` of `data` with `indices`: rows added back at their indices. */
const gather: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const [data, indices] = c.inputs as [string, string];
  const dd = c.info(data).dims;
  const dtype = c.info(data).dtype;
  const id = c.info(indices).dims;
  const axis = normAxis(c.attrI('axis', 0), dd.length);
  const ri = id.length;
  const K = id.reduce((x, y) => x * y, 1);
  const D = dd[axis]!;
  let g = c.gradOut[0]!;
  // Bring the index dimensions to the front: [I..., data[:axis], data[axis+1:]].
  if (axis > 0 && ri > 0) {
    const perm = [...range(axis, axis + ri), ...range(0, axis), ...range(axis + ri, dd.length - 1 + ri)];
    g = b.transpose(g, perm);
  }
  const rest = [...dd.slice(0, axis), ...dd.slice(axis + 1)];
  const R = rest.reduce((x, y) => x * y, 1);
  let idx = c.info(indices).dtype === DataType.INT64 ? indices : b.cast(indices, DataType.INT64);
  const negative = b.op1('Less', [idx, b.scalar(DataType.INT64, 0)]);
  idx = b.op1('Where', [negative, b.add(idx, b.scalar(DataType.INT64, D)), idx]);
  let front: string;
  if (b.opset >= 16) {
    const node = b.op1('ScatterND', [b.zeros([D, ...rest], dtype), b.reshape(idx, [K, 1]), b.reshape(g, [K, ...rest])], [{ name: 'reduction', s: 'add' }]);
    front = node;
  } else {
    // One-hot rows: [D, K] x [K, R] adds every gathered row's gradient into its source row.
    const oh = b.op1('OneHot', [b.reshape(idx, [K]), b.constant(DataType.INT64, [1], [D]), b.constant(dtype, [2], [0, 1])], [ai('axis', -1)]);
    front = b.reshape(b.op1('MatMul', [b.transpose(oh, [1, 0]), b.reshape(g, [K, R])]), [D, ...rest]);
  }
  if (axis === 0) return [front];
  // [D, data[:axis], data[axis+1:]] → data layout.
  const back = [...range(1, axis + 1), 0, ...range(axis + 1, dd.length)];
  return [b.transpose(front, back)];
};

const gatherElements: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  if (b.opset < 16) throw new UnsupportedForm('GatherElements gradient needs opset 16 (ScatterElements add)');
  const [data, indices] = c.inputs as [string, string];
  const info = c.info(data);
  const axis = normAxis(c.attrI('axis', 0), info.dims.length);
  const idx = c.info(indices).dtype === DataType.INT64 ? indices : b.cast(indices, DataType.INT64);
  return [b.op1('ScatterElements', [b.zerosLike(data, info.dtype), idx, c.gradOut[0]!], [ai('axis', axis), { name: 'reduction', s: 'add' }])];
};

const expand: Rule = (c) => {
  if (!c.needs[0]) return [];
  return [c.b.sumTo(c.gradOut[0]!, c.info(c.outputs[0]!).dims, c.inputs[0]!, c.info(c.inputs[0]!).dims)];
};

const tile: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const dims = c.info(c.inputs[0]!).dims;
  const reps = c.constValues(c.inputs[1]!);
  if (!reps) throw new UnsupportedForm('Tile repeats unknown');
  // [r0·d0, r1·d1, ...] → [r0, d0, r1, d1, ...], summed over the r axes.
  const split = dims.flatMap((d, k) => [reps[k]!, d]);
  const summed = b.reduceSum(b.reshape(c.gradOut[0]!, split), range(0, dims.length).map((k) => 2 * k), false);
  return [b.reshapeLike(summed, c.inputs[0]!)];
};

const pad: Rule = (c) => {
  if (!c.needs[0]) return [];
  const mode = c.attrS('mode') ?? 'constant';
  if (mode !== 'constant') throw new UnsupportedForm(`Pad mode ${mode}`);
  const dims = c.info(c.inputs[0]!).dims;
  const rank = dims.length;
  let pads = c.b.opset < 11 ? c.attrInts('pads') : c.constValues(c.inputs[1]!);
  if (!pads) throw new UnsupportedForm('Pad amounts unknown');
  if (c.b.opset >= 18 && c.inputs[3]) {
    const axes = c.constValues(c.inputs[3]);
    if (!axes) throw new UnsupportedForm('Pad axes unknown');
    const full = new Array<number>(2 * rank).fill(0);
    axes.forEach((a, k) => { const ax = normAxis(a, rank); full[ax] = pads![k]!; full[rank + ax] = pads![axes.length + k]!; });
    pads = full;
  }
  if (pads.some((p) => p < 0)) throw new UnsupportedForm('Pad with negative pads');
  const starts = range(0, rank).map((k) => pads![k]!);
  const ends = range(0, rank).map((k) => pads![k]! + dims[k]!);
  return [c.b.slice(c.gradOut[0]!, starts, ends, range(0, rank))];
};

export const shapeRules: Record<string, Rule> = {
  Reshape: reshapeBack, Flatten: reshapeBack, Squeeze: reshapeBack, Unsqueeze: reshapeBack,
  Transpose: transpose, Concat: concat, Split: split, Slice: slice, Gather: gather,
  GatherElements: gatherElements, Expand: expand, Tile: tile, Pad: pad,
};
