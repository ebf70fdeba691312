// Finite-difference checks of the elementwise gradient rules, broadcasting included.
import { fdSuite, af, ai, type FdCase } from './harness';

const D = 'double' as const;
const bin = (op: string, a: number[], b: number[], extra: Partial<FdCase> = {}): FdCase => ({
  name: `${op} ${a.join('x')} . ${b.join('x')}`, dtype: D,
  inputs: { a: { dims: a }, b: { dims: b, init: op === 'Div' || op === 'Pow' ? 'positive' : 'normal' } },
  nodes: [{ op, inputs: ['a', 'b'] }], ...extra,
});
const un = (op: string, init: 'normal' | 'positive' = 'normal', extra: Partial<FdCase> = {}, attrs = [] as FdCase['nodes'][0]['attrs']): FdCase => ({
  name: `${op}`, dtype: D, inputs: { x: { dims: [2, 3, 4], init } }, nodes: [{ op, inputs: ['x'], attrs }], ...extra,
});

const cases: FdCase[] = [
  bin('Add', [2, 3, 4], [2, 3, 4]),
  bin('Add', [2, 3, 4], [4]),
  bin('Add', [2, 1, 4], [3, 1]),
  bin('Sub', [2, 3, 4], [1, 3, 1]),
  bin('Mul', [2, 3, 4], [3, 4]),
  bin('Mul', [3, 4], [2, 1, 1], { name: 'Mul 3x4 . 2x1x1 (grad to both, lead axes)' }),
  bin('Div', [2, 3, 4], [2, 1, 4]),
  { ...bin('Pow', [2, 3], [2, 3]), inputs: { a: { dims: [2, 3], init: 'positive' }, b: { dims: [2, 3] } } },
  { name: 'Pow x^2 (constant exponent)', dtype: D, inputs: { a: { dims: [2, 5] }, e: { dims: [], values: [2], constant: true } }, nodes: [{ op: 'Pow', inputs: ['a', 'e'] }] },
  { name: 'Pow x^-0.5 broadcast', dtype: D, inputs: { a: { dims: [2, 5], init: 'positive' }, e: { dims: [1], values: [-0.5], constant: true } }, nodes: [{ op: 'Pow', inputs: ['a', 'e'] }] },
  un('Sqrt', 'positive'), un('Reciprocal', 'positive'), un('Neg'), un('Exp'), un('Log', 'positive'),
  un('Tanh'), un('Sigmoid'), un('Relu'), un('Abs'), un('Sin'), un('Cos'), { ...un('Softplus'), dtype: 'float' },
  { ...un('Erf'), dtype: 'float' },
  { ...un('LeakyRelu', 'normal', {}, [af('alpha', 0.1)]), name: 'LeakyRelu alpha 0.1' },
  { ...un('HardSigmoid', 'normal', {}, [af('alpha', 0.3), af('beta', 0.4)]), dtype: 'float', name: 'HardSigmoid 0.3/0.4' },
  { ...un('HardSwish'), dtype: 'float', inputs: { x: { dims: [2, 3, 4], values: Array.from({ length: 24 }, (_, k) => -5.1 + k * 0.43) } } },
  { name: 'Gelu (exact)', dtype: 'float', opset: 20, inputs: { x: { dims: [2, 6] } }, nodes: [{ op: 'Gelu', inputs: ['x'] }] },
  { name: 'Gelu (tanh)', dtype: 'float', opset: 20, inputs: { x: { dims: [2, 6] } }, nodes: [{ op: 'Gelu', inputs: ['x'], attrs: [{ name: 'approximate', s: 'tanh' }] }] },
  { name: 'Clip opset 9 (attributes)', opset: 9, dtype: 'float', inputs: { x: { dims: [3, 5] } }, nodes: [{ op: 'Clip', inputs: ['x'], attrs: [af('min', -0.5), af('max', 0.6)] }] },
  { name: 'Clip opset 13 (inputs)', dtype: D, inputs: { x: { dims: [3, 5] }, lo: { dims: [], values: [-0.5], constant: true }, hi: { dims: [], values: [0.7], constant: true } }, nodes: [{ op: 'Clip', inputs: ['x', 'lo', 'hi'] }] },
  { name: 'Where broadcast', dtype: D, inputs: { c: { dims: [2, 3], init: 'bool' }, a: { dims: [2, 3] }, b: { dims: [3] } }, nodes: [{ op: 'Where', inputs: ['c', 'a', 'b'] }] },
  { name: 'Cast double->float->double', dtype: D, inputs: { x: { dims: [2, 3] } }, nodes: [{ op: 'Cast', inputs: ['x'], attrs: [ai('to', 1)] }, { op: 'Cast', inputs: ['y0'], attrs: [ai('to', 11)] }], step: 1e-3 },
  { name: 'Sum of three with broadcast', dtype: D, inputs: { a: { dims: [2, 3] }, b: { dims: [3] }, c: { dims: [2, 1] } }, nodes: [{ op: 'Sum', inputs: ['a', 'b', 'c'] }] },
  { name: 'Max then Min, broadcast', dtype: D, inputs: { a: { dims: [2, 3] }, b: { dims: [3] }, c: { dims: [2, 1] } }, nodes: [{ op: 'Max', inputs: ['a', 'b'] }, { op: 'Min', inputs: ['y0', 'c'] }] },
  { name: 'Min(Max(a, b), b): ties shared', dtype: D, inputs: { a: { dims: [2, 3] }, b: { dims: [2, 3] } }, nodes: [{ op: 'Max', inputs: ['a', 'b'] }, { op: 'Min', inputs: ['y0', 'b'] }] },
  { name: 'Identity then Dropout (inference)', dtype: 'float', inputs: { x: { dims: [2, 3] } }, nodes: [{ op: 'Identity', inputs: ['x'] }, { op: 'Dropout', inputs: ['y0'] }, { op: 'Tanh', inputs: ['y1'] }] },
  { name: 'Mul x*x (same input twice)', dtype: D, inputs: { x: { dims: [4] } }, nodes: [{ op: 'Mul', inputs: ['x', 'x'] }] },
  { name: 'Add with an initializer (weight)', dtype: D, inputs: { x: { dims: [2, 3] }, w: { dims: [3], initializer: true } }, nodes: [{ op: 'Add', inputs: ['x', 'w'] }, { op: 'Tanh', inputs: ['y0'] }] },
  { name: 'Add opset 9 broadcast', opset: 9, dtype: 'float', inputs: { a: { dims: [2, 3, 4] }, b: { dims: [3, 1] } }, nodes: [{ op: 'Mul', inputs: ['a', 'b'] }] },
];

fdSuite(cases);
