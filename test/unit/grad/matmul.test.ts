// Finite-difference checks of MatMul (batched, broadcast, 1-D) and Gemm (transposes, alpha/beta, C).
import { fdSuite, af, ai, type FdCase } from './harness';

const mm = (a: number[], b: number[], extra: Partial<FdCase> = {}): FdCase => ({
  name: `MatMul ${a.join('x')} @ ${b.join('x')}`, dtype: 'double',
  inputs: { a: { dims: a }, b: { dims: b } }, nodes: [{ op: 'MatMul', inputs: ['a', 'b'] }], ...extra,
});

const gemm = (ta: number, tb: number, cDims: number[] | undefined, alpha = 1, beta = 1): FdCase => ({
  name: `Gemm transA=${ta} transB=${tb} C=${cDims ? cDims.join('x') : 'none'} alpha=${alpha} beta=${beta}`,
  dtype: 'double',
  inputs: {
    a: { dims: ta ? [4, 3] : [3, 4] }, b: { dims: tb ? [5, 4] : [4, 5] },
    ...(cDims ? { c: { dims: cDims } } : {}),
  },
  nodes: [{ op: 'Gemm', inputs: cDims ? ['a', 'b', 'c'] : ['a', 'b'], attrs: [ai('transA', ta), ai('transB', tb), af('alpha', alpha), af('beta', beta)] }],
});

fdSuite([
  mm([3, 4], [4, 5]),
  mm([2, 3, 4], [4, 5]),
  mm([2, 3, 4], [2, 4, 5]),
  mm([2, 1, 3, 4], [3, 4, 2]),
  mm([3, 4], [2, 4, 5]),
  mm([4], [4, 5]),
  mm([2, 3, 4], [4]),
  mm([4], [4]),
  { ...mm([2, 3, 4], [4, 5]), name: 'MatMul with weight initializer', inputs: { a: { dims: [2, 3, 4] }, b: { dims: [4, 5], initializer: true } } },
  { ...mm([3, 4], [4, 5]), name: 'MatMul float32', dtype: 'float' },
  gemm(0, 0, [3, 5]), gemm(1, 0, [5]), gemm(0, 1, [1, 5], 0.7, 1.3), gemm(1, 1, [3, 1], 2, 0.5), gemm(0, 1, undefined),
  { ...gemm(0, 1, [5]), name: 'Gemm opset 9 transB with bias', opset: 9, dtype: 'float' },
]);
