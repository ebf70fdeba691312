// Finite-difference checks of Softmax/LogSoftmax, LayerNorm, BatchNorm, Conv (strides, padding,
// dilation, groups, depthwise, auto_pad) and pooling.
import { fdSuite, af, ai, aints, type FdCase } from './harness';

const D = 'double' as const;

const conv = (name: string, x: number[], w: number[], attrs: FdCase['nodes'][0]['attrs'], bias = true, opset = 17): FdCase => ({
  name: `Conv ${name}`, opset, dtype: 'float',
  inputs: { x: { dims: x }, w: { dims: w, initializer: true }, ...(bias ? { b: { dims: [w[0]!] } } : {}) },
  nodes: [{ op: 'Conv', inputs: bias ? ['x', 'w', 'b'] : ['x', 'w'], attrs }],
});

fdSuite([
  { name: 'Softmax axis -1 (opset 13)', dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'Softmax', inputs: ['x'], attrs: [ai('axis', -1)] }] },
  { name: 'Softmax axis 1 (opset 13, middle)', dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'Softmax', inputs: ['x'], attrs: [ai('axis', 1)] }] },
  { name: 'Softmax opset 11 axis 1 (2-D coercion)', opset: 11, dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'Softmax', inputs: ['x'], attrs: [ai('axis', 1)] }] },
  { name: 'LogSoftmax axis -1', dtype: D, inputs: { x: { dims: [2, 5] } }, nodes: [{ op: 'LogSoftmax', inputs: ['x'], attrs: [ai('axis', -1)] }] },
  { name: 'LogSoftmax opset 9 axis 1 of rank 3', opset: 9, dtype: 'float', inputs: { x: { dims: [2, 3, 2] } }, nodes: [{ op: 'LogSoftmax', inputs: ['x'], attrs: [ai('axis', 1)] }] },
  { name: 'ReduceSum opset 13 keepdims 0', dtype: D, inputs: { x: { dims: [2, 3, 4] }, a: { dims: [2], values: [0, -1], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'ReduceSum', inputs: ['x', 'a'], attrs: [ai('keepdims', 0)] }] },
  { name: 'ReduceSum opset 11 attribute axes', opset: 11, dtype: D, inputs: { x: { dims: [2, 3, 4] } }, nodes: [{ op: 'ReduceSum', inputs: ['x'], attrs: [aints('axes', [1]), ai('keepdims', 1)] }] },
  { name: 'ReduceMean opset 17 attribute, all axes', dtype: D, inputs: { x: { dims: [2, 3] } }, nodes: [{ op: 'ReduceMean', inputs: ['x'], attrs: [ai('keepdims', 0)] }, { op: 'Exp', inputs: ['y0'] }] },
  { name: 'ReduceMean opset 18 input axes', opset: 18, dtype: D, inputs: { x: { dims: [2, 3, 4] }, a: { dims: [1], values: [1], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'ReduceMean', inputs: ['x', 'a'], attrs: [ai('keepdims', 0)] }] },
  { name: 'ReduceMax axis 1', dtype: D, inputs: { x: { dims: [2, 4, 3] } }, nodes: [{ op: 'ReduceMax', inputs: ['x'], attrs: [aints('axes', [1]), ai('keepdims', 0)] }] },
  { name: 'ReduceMin opset 18 input axes', opset: 18, dtype: D, inputs: { x: { dims: [3, 4] }, a: { dims: [1], values: [-1], init: 'int', constant: true, dtype: 7 } }, nodes: [{ op: 'ReduceMin', inputs: ['x', 'a'] }] },
  { name: 'ReduceSumSquare, ReduceL2, ReduceLogSumExp', dtype: D, inputs: { x: { dims: [2, 3] } }, nodes: [{ op: 'ReduceSumSquare', inputs: ['x'], attrs: [aints('axes', [1])] }, { op: 'ReduceL2', inputs: ['x'], attrs: [aints('axes', [0])] }, { op: 'ReduceLogSumExp', inputs: ['x'], attrs: [aints('axes', [1])] }, { op: 'MatMul', inputs: ['y0', 'y1'] }, { op: 'Add', inputs: ['y3', 'y2'] }] },
  { name: 'LayerNormalization axis -1 with bias', dtype: D, inputs: { x: { dims: [2, 3, 5] }, s: { dims: [5] }, b: { dims: [5] } }, nodes: [{ op: 'LayerNormalization', inputs: ['x', 's', 'b'], attrs: [af('epsilon', 1e-5)] }] },
  { name: 'LayerNormalization axis 1 no bias float', dtype: 'float', inputs: { x: { dims: [2, 3, 4] }, s: { dims: [3, 4] } }, nodes: [{ op: 'LayerNormalization', inputs: ['x', 's'], attrs: [ai('axis', 1)] }] },
  { name: 'BatchNormalization inference (all inputs)', dtype: D, inputs: { x: { dims: [2, 3, 2, 2] }, s: { dims: [3] }, b: { dims: [3] }, m: { dims: [3] }, v: { dims: [3], init: 'positive' } }, nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'] }] },
  { name: 'BatchNormalization opset 9 rank 3', opset: 9, dtype: 'float', inputs: { x: { dims: [2, 3, 4] }, s: { dims: [3] }, b: { dims: [3] }, m: { dims: [3], constant: true }, v: { dims: [3], init: 'positive', constant: true } }, nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'] }] },
  conv('3x3 stride 1 pad 1', [2, 3, 5, 5], [4, 3, 3, 3], [aints('pads', [1, 1, 1, 1])]),
  conv('3x3 stride 2 no pad (uncovered border)', [2, 2, 6, 6], [3, 2, 3, 3], [aints('strides', [2, 2])]),
  conv('3x3 stride 2 asymmetric pad, dilation 2', [1, 2, 7, 8], [3, 2, 3, 3], [aints('strides', [2, 2]), aints('pads', [1, 0, 2, 1]), aints('dilations', [2, 2])]),
  conv('1x1 no bias', [2, 4, 3, 3], [2, 4, 1, 1], [], false),
  conv('groups 2', [2, 4, 5, 5], [6, 2, 3, 3], [ai('group', 2), aints('pads', [1, 1, 1, 1])]),
  conv('depthwise stride 2 pad 1', [2, 3, 6, 6], [3, 1, 3, 3], [ai('group', 3), aints('strides', [2, 2]), aints('pads', [1, 1, 1, 1])]),
  conv('auto_pad SAME_UPPER stride 2', [1, 2, 5, 5], [2, 2, 3, 3], [{ name: 'auto_pad', s: 'SAME_UPPER' }, aints('strides', [2, 2])]),
  conv('1-D', [2, 3, 7], [2, 3, 3], [aints('strides', [2]), aints('pads', [1, 1])]),
  conv('opset 9 group 1 stride 2 (swapped-axes convolution)', [2, 2, 6, 5], [3, 2, 3, 3], [aints('strides', [2, 2]), aints('pads', [1, 1, 1, 1])], true, 9),
  conv('opset 9 pointwise (MatMul)', [2, 3, 4, 4], [5, 3, 1, 1], [], true, 9),
  conv('opset 9 depthwise', [1, 2, 5, 5], [2, 1, 3, 3], [ai('group', 2), aints('pads', [1, 1, 1, 1]), aints('strides', [2, 2])], true, 9),
  { name: 'MaxPool 2x2 stride 2 (tiled path)', dtype: 'float', inputs: { x: { dims: [2, 2, 4, 4] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2]), aints('strides', [2, 2])] }] },
  { name: 'MaxPool 2x3 stride 2x3 odd input (tiled path, uncovered border)', dtype: 'float', inputs: { x: { dims: [1, 2, 5, 7] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 3]), aints('strides', [2, 3])] }] },
  { name: 'MaxPool opset 9 2x2 (tiled path)', opset: 9, dtype: 'float', inputs: { x: { dims: [1, 2, 4, 4] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2]), aints('strides', [2, 2])] }] },
  { name: 'MaxPool 2x2 stride 1 (window path)', dtype: 'float', inputs: { x: { dims: [2, 2, 4, 4] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2])] }] },
  { name: 'MaxPool 3x3 stride 2 pad 1 (overlapping)', dtype: 'float', inputs: { x: { dims: [1, 2, 5, 5] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [3, 3]), aints('strides', [2, 2]), aints('pads', [1, 1, 1, 1])] }] },
  { name: 'MaxPool ceil_mode', dtype: 'float', inputs: { x: { dims: [1, 1, 5, 5] } }, nodes: [{ op: 'MaxPool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2]), aints('strides', [2, 2]), ai('ceil_mode', 1)] }] },
  { name: 'AveragePool 2x2 stride 2', dtype: 'float', inputs: { x: { dims: [2, 2, 4, 4] } }, nodes: [{ op: 'AveragePool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2]), aints('strides', [2, 2])] }] },
  { name: 'AveragePool 3x3 pad 1 exclude pad', dtype: 'float', inputs: { x: { dims: [1, 2, 5, 5] } }, nodes: [{ op: 'AveragePool', inputs: ['x'], attrs: [aints('kernel_shape', [3, 3]), aints('strides', [2, 2]), aints('pads', [1, 1, 1, 1])] }] },
  { name: 'AveragePool 3x3 pad 1 include pad', dtype: 'float', inputs: { x: { dims: [1, 2, 5, 5] } }, nodes: [{ op: 'AveragePool', inputs: ['x'], attrs: [aints('kernel_shape', [3, 3]), aints('strides', [2, 2]), aints('pads', [1, 1, 1, 1]), ai('count_include_pad', 1)] }] },
  { name: 'AveragePool opset 9 (PP-OCR form) 2x2', opset: 9, dtype: 'float', inputs: { x: { dims: [1, 2, 4, 6] } }, nodes: [{ op: 'AveragePool', inputs: ['x'], attrs: [aints('kernel_shape', [2, 2]), aints('strides', [2, 2])] }] },
  { name: 'GlobalAveragePool', dtype: 'float', inputs: { x: { dims: [2, 3, 3, 4] } }, nodes: [{ op: 'GlobalAveragePool', inputs: ['x'] }] },
  { name: 'GlobalMaxPool (distinct values)', dtype: 'float', inputs: { x: { dims: [2, 3, 3, 4], values: Array.from({ length: 72 }, (_, k) => ((k * 37) % 72) * 0.05 - 1.8) } }, nodes: [{ op: 'GlobalMaxPool', inputs: ['x'] }] },
]);
