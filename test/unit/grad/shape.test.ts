// Finite-difference checks of the layout/indexing rules (Transpose, Reshape family, Concat, Split,
// Slice, Gather, Expand, Tile, Pad) in the attribute and input forms of several opsets.
import { fdSuite, ai, aints } from './harness';

const D = 'double' as const;
const I = (values: number[]) => ({ dims: [values.length], values, init: 'int' as const, constant: true, dtype: 7 });

fdSuite([
  { name: 'Transpose perm 2,0,1', dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'Transpose', inputs: ['x'], attrs: [aints('perm', [2, 0, 1])] }] },
  { name: 'Transpose default (reverse)', dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'Transpose', inputs: ['x'] }] },
  { name: 'Reshape', dtype: D, inputs: { x: { dims: [2, 3, 4] }, s: I([4, -1]) }, nodes: [{ op: 'Reshape', inputs: ['x', 's'] }, { op: 'Tanh', inputs: ['y0'] }] },
  { name: 'Flatten axis 2', dtype: D, inputs: { x: { dims: [2, 3, 4, 2] } }, nodes: [{ op: 'Flatten', inputs: ['x'], attrs: [ai('axis', 2)] }] },
  { name: 'Squeeze/Unsqueeze opset 13', dtype: D, inputs: { x: { dims: [2, 1, 3] }, a: I([1]), u: I([0, 3]) }, nodes: [{ op: 'Squeeze', inputs: ['x', 'a'] }, { op: 'Unsqueeze', inputs: ['y0', 'u'] }] },
  { name: 'Squeeze/Unsqueeze opset 11', opset: 11, dtype: D, inputs: { x: { dims: [2, 1, 3] } }, nodes: [{ op: 'Squeeze', inputs: ['x'], attrs: [aints('axes', [1])] }, { op: 'Unsqueeze', inputs: ['y0'], attrs: [aints('axes', [0])] }] },
  { name: 'Concat axis -1 three inputs', dtype: D, inputs: { a: { dims: [2, 3] }, b: { dims: [2, 1] }, c: { dims: [2, 2] } }, nodes: [{ op: 'Concat', inputs: ['a', 'b', 'c'], attrs: [ai('axis', -1)] }] },
  { name: 'Split opset 13 with sizes, one output unused', dtype: D, inputs: { x: { dims: [5, 2] }, s: I([2, 3]) }, nodes: [{ op: 'Split', inputs: ['x', 's'], outputs: ['p', 'q'], attrs: [ai('axis', 0)] }, { op: 'Tanh', inputs: ['q'] }] },
  { name: 'Split opset 11 attribute, both used', opset: 11, dtype: D, inputs: { x: { dims: [2, 6] } }, nodes: [{ op: 'Split', inputs: ['x'], outputs: ['p', 'q'], attrs: [ai('axis', 1), aints('split', [4, 2])] }, { op: 'Mul', inputs: ['p', 'p'] }, { op: 'Concat', inputs: ['y1', 'q'], attrs: [ai('axis', 1)] }] },
  { name: 'Slice opset 13 negative bounds', dtype: D, inputs: { x: { dims: [3, 6] }, st: I([1, -4]), en: I([3, -1]), ax: I([0, 1]) }, nodes: [{ op: 'Slice', inputs: ['x', 'st', 'en', 'ax'] }] },
  { name: 'Slice opset 13 steps 2 and -1', dtype: D, inputs: { x: { dims: [4, 7] }, st: I([0, 5]), en: I([4, 0]), ax: I([1, 0]), sp: I([2, -1]) }, nodes: [{ op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'] }] },
  { name: 'Slice opset 9 attributes (end clamp)', opset: 9, dtype: 'float', inputs: { x: { dims: [3, 5] } }, nodes: [{ op: 'Slice', inputs: ['x'], attrs: [aints('starts', [1]), aints('ends', [1000]), aints('axes', [1])] }] },
  { name: 'Gather axis 0 with repeated indices (embedding)', dtype: D, inputs: { w: { dims: [5, 3], initializer: true }, i: { dims: [2, 3], values: [0, 4, 4, 1, 0, 0], init: 'int' } }, nodes: [{ op: 'Gather', inputs: ['w', 'i'] }] },
  { name: 'Gather axis 1, negative index', dtype: D, inputs: { x: { dims: [2, 4, 3] }, i: { dims: [3], values: [1, -1, 1], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'Gather', inputs: ['x', 'i'], attrs: [ai('axis', 1)] }] },
  { name: 'Gather scalar index axis -1', dtype: D, inputs: { x: { dims: [2, 4] }, i: { dims: [], values: [2], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'Gather', inputs: ['x', 'i'], attrs: [ai('axis', -1)] }] },
  { name: 'Gather opset 11 (one-hot path)', opset: 11, dtype: 'float', inputs: { w: { dims: [6, 2] }, i: { dims: [4], values: [5, 1, 5, 0], init: 'int' } }, nodes: [{ op: 'Gather', inputs: ['w', 'i'] }] },
  { name: 'GatherElements axis 1', dtype: D, inputs: { x: { dims: [2, 4] }, i: { dims: [2, 3], values: [0, 3, 3, 1, 1, 2], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'GatherElements', inputs: ['x', 'i'], attrs: [ai('axis', 1)] }] },
  { name: 'Expand', dtype: D, inputs: { x: { dims: [3, 1] }, s: I([2, 3, 4]) }, nodes: [{ op: 'Expand', inputs: ['x', 's'] }] },
  { name: 'Tile', dtype: D, inputs: { x: { dims: [2, 3] }, r: I([2, 3]) }, nodes: [{ op: 'Tile', inputs: ['x', 'r'] }] },
  { name: 'Pad constant opset 13', dtype: D, inputs: { x: { dims: [2, 3] }, p: I([1, 0, 0, 2]) }, nodes: [{ op: 'Pad', inputs: ['x', 'p'] }] },
  { name: 'Pad opset 9 attribute', opset: 9, dtype: 'float', inputs: { x: { dims: [2, 3] } }, nodes: [{ op: 'Pad', inputs: ['x'], attrs: [aints('pads', [0, 1, 1, 1])] }] },
]);
