/**
 * Gradient rules of the reductions (Sum, Mean, Max, Min, SumSquare, L2, LogSumExp) in both the
 * attribute form of `axes` (ReduceSum before opset 13, the others before 18) and the input form.
 */
import { UnsupportedForm, normAxis, range, type Rule, type RuleContext } from './types';

/** The reduced axes, normalised and sorted; undefined means every axis reduced to identity. */
function reducedAxes(c: RuleContext): number[] | 'identity' {
  const rank = c.info(c.inputs[0]!).dims.length;
  let axes = c.attrInts('axes');
  if (c.inputs[1]) {
    axes = c.constValues(c.inputs[1]);
    if (!axes) throw new UnsupportedForm('reduction axes computed at run time');
  }
  if (!axes || axes.length === 0) {
    if (c.attrI('noop_with_empty_axes', 0) !== 0) return 'identity';
    return range(0, rank);
  }
  return axes.map((a) => normAxis(a, rank)).sort((x, y) => x - y);
}

/** `v` (shaped like the output) broadcast back to the input's shape. */
function expandBack(c: RuleContext, v: string, axes: number[]): string {
  const b = c.b;
  const kept = c.attrI('keepdims', 1) !== 0 ? v : b.unsqueeze(v, axes);
  return b.op1('Expand', [kept, b.shape(c.inputs[0]!)]);
}

function reduceRule(local: (c: RuleContext, g: string, axes: number[]) => string): Rule {
  return (c) => {
    if (!c.needs[0]) return [];
    const axes = reducedAxes(c);
    if (axes === 'identity') return [c.gradOut[0]!];
    return [local(c, c.gradOut[0]!, axes)];
  };
}

function count(c: RuleContext, axes: number[]): number {
  const d = c.info(c.inputs[0]!).dims;
  return axes.reduce((a, k) => a * d[k]!, 1);
}

const reduceSum = reduceRule((c, g, axes) => expandBack(c, g, axes));

const reduceMean = reduceRule((c, g, axes) => {
  const t = c.info(c.outputs[0]!).dtype;
  return c.b.mul(expandBack(c, g, axes), c.b.scalar(t, 1 / count(c, axes)));
});

/** Max/Min: the gradient is shared equally by the elements that attain the extreme. */
const reduceExtreme = reduceRule((c, g, axes) => {
  const b = c.b;
  const t = c.info(c.outputs[0]!).dtype;
  const y = expandBack(c, c.outputs[0]!, axes);
  const mask = b.cast(b.equal(c.inputs[0]!, y), t);
  const ties = b.reduceSum(mask, axes, true);
  const share = b.div(mask, ties);
  return b.mul(expandBack(c, g, axes), share);
});

const reduceSumSquare = reduceRule((c, g, axes) => {
  const t = c.info(c.outputs[0]!).dtype;
  return c.b.mul(expandBack(c, g, axes), c.b.mul(c.inputs[0]!, c.b.scalar(t, 2)));
});

const reduceL2 = reduceRule((c, g, axes) => {
  const b = c.b;
  return b.mul(expandBack(c, g, axes), b.div(c.inputs[0]!, expandBack(c, c.outputs[0]!, axes)));
});

const reduceLogSumExp = reduceRule((c, g, axes) => {
  const b = c.b;
  return b.mul(expandBack(c, g, axes), b.op1('Exp', [b.sub(c.inputs[0]!, expandBack(c, c.outputs[0]!, axes))]));
});

export const reduceRules: Record<string, Rule> = {
  ReduceSum: reduceSum, ReduceMean: reduceMean, ReduceMax: reduceExtreme, ReduceMin: reduceExtreme,
  ReduceSumSquare: reduceSumSquare, ReduceL2: reduceL2, ReduceLogSumExp: reduceLogSumExp,
};
