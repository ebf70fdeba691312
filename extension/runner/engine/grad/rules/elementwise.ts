/**
 * Gradient rules of elementwise ops: the broadcasting arithmetic (gradients summed back to each
 * operand's shape), unary math, activations and Where/Cast/Identity.
 */
import { DataType } from '../../../../../language-server/core/model/onnx-schema';
import { isFloatCode } from '../builder';
import { UnsupportedForm, type Rule, type RuleContext } from './types';

/** Sums `g` (shaped like output 0) back to input `k`'s shape. */
function toInput(c: RuleContext, g: string, k: number): string {
  return c.b.sumTo(g, c.info(c.outputs[0]!).dims, c.inputs[k]!, c.info(c.inputs[k]!).dims);
}

function dt(c: RuleContext): number {
  return c.info(c.outputs[0]!).dtype;
}

const add: Rule = (c) => {
  const g = c.gradOut[0]!;
  return [c.needs[0] ? toInput(c, g, 0) : undefined, c.needs[1] ? toInput(c, g, 1) : undefined];
};

const sub: Rule = (c) => {
  const g = c.gradOut[0]!;
  return [c.needs[0] ? toInput(c, g, 0) : undefined, c.needs[1] ? toInput(c, c.b.neg(g), 1) : undefined];
};

const mul: Rule = (c) => {
  const g = c.gradOut[0]!;
  const [a, bb] = c.inputs as [string, string];
  return [
    c.needs[0] ? toInput(c, c.b.mul(g, bb), 0) : undefined,
    c.needs[1] ? toInput(c, c.b.mul(g, a), 1) : undefined,
  ];
};

const div: Rule = (c) => {
  const g = c.gradOut[0]!;
  const [, bb] = c.inputs as [string, string];
  const y = c.outputs[0]!;
  return [
    c.needs[0] ? toInput(c, c.b.div(g, bb), 0) : undefined,
    // d(a/b)/db = -y/b
    c.needs[1] ? toInput(c, c.b.neg(c.b.div(c.b.mul(g, y), bb)), 1) : undefined,
  ];
};

const pow: Rule = (c) => {
  const b = c.b;
  const g = c.gradOut[0]!;
  const [a, e] = c.inputs as [string, string];
  const t = dt(c);
  // The exponent may be an integer tensor (opset 12+); bring it to the base's type.
  const ef = c.info(e).dtype === t ? e : b.cast(e, t);
  const out: (string | undefined)[] = [undefined, undefined];
  if (c.needs[0]) {
    const ev = c.constValues(e);
    const k = ev?.length === 1 ? ev[0] : undefined;
    let gx: string;
    if (k === 1) gx = g;
    else if (k === 2) gx = b.mul(g, b.mul(a, b.scalar(t, 2)));
    else gx = b.mul(g, b.mul(ef, b.op1('Pow', [a, b.sub(ef, b.scalar(t, 1))])));
    out[0] = toInput(c, gx, 0);
  }
  if (c.needs[1]) out[1] = toInput(c, b.mul(g, b.mul(c.outputs[0]!, b.op1('Log', [a]))), 1);
  return out;
};

/** Unary ops whose derivative is an expression of x and y: dy/dx = f(x, y). */
function unary(local: (c: RuleContext, x: string, y: string, t: number) => string): Rule {
  return (c) => {
    if (!c.needs[0]) return [];
    return [c.b.mul(c.gradOut[0]!, local(c, c.inputs[0]!, c.outputs[0]!, dt(c)))];
  };
}

const sqrt = unary((c, _x, y, t) => c.b.div(c.b.scalar(t, 0.5), y));
const reciprocal = unary((c, _x, y) => c.b.neg(c.b.mul(y, y)));
const exp = unary((_c, _x, y) => y);
const log = unary((c, x, _y, t) => c.b.div(c.b.scalar(t, 1), x));
const tanh = unary((c, _x, y, t) => c.b.sub(c.b.scalar(t, 1), c.b.mul(y, y)));
const sigmoid = unary((c, _x, y, t) => c.b.mul(y, c.b.sub(c.b.scalar(t, 1), y)));
const erf = unary((c, x, _y, t) => {
  // d erf(x)/dx = 2/sqrt(pi) * exp(-x^2)
  const b = c.b;
  return b.mul(b.scalar(t, 2 / Math.sqrt(Math.PI)), b.op1('Exp', [b.neg(b.mul(x, x))]));
});
const sin = unary((c, x) => c.b.op1('Cos', [x]));
const cos = unary((c, x) => c.b.neg(c.b.op1('Sin', [x])));
const abs = unary((c, x) => c.b.op1('Sign', [x]));
const softplus = unary((c, x) => c.b.op1('Sigmoid', [x]));

const neg: Rule = (c) => (c.needs[0] ? [c.b.neg(c.gradOut[0]!)] : []);
const identity: Rule = (c) => (c.needs[0] ? [c.gradOut[0]!] : []);

/** Passes the gradient where `cond` holds, zero elsewhere (a 0/1 mask: onnxruntime's Where with a scalar is slow). */
function gate(c: RuleContext, cond: string): string {
  return c.b.mul(c.gradOut[0]!, c.b.cast(cond, dt(c)));
}

const relu: Rule = (c) => (c.needs[0] ? [gate(c, c.b.op1('Greater', [c.inputs[0]!, c.b.scalar(dt(c), 0)]))] : []);

const leakyRelu: Rule = (c) => {
  if (!c.needs[0]) return [];
  const t = dt(c);
  const slope = c.b.op1('Where', [c.b.op1('Greater', [c.inputs[0]!, c.b.scalar(t, 0)]), c.b.scalar(t, 1), c.b.scalar(t, c.attrF('alpha', 0.01))]);
  return [c.b.mul(c.gradOut[0]!, slope)];
};

/** Derivative mask of a linear ramp clipped to [lo, hi]: 1 strictly inside, 0 outside. */
function inside(c: RuleContext, v: string, lo: string | undefined, hi: string | undefined): string {
  const b = c.b;
  let cond: string | undefined;
  if (lo) cond = b.op1('Greater', [v, lo]);
  if (hi) {
    const h = b.op1('Less', [v, hi]);
    cond = cond ? b.op1('And', [cond, h]) : h;
  }
  return cond ?? b.op1('Equal', [b.scalar(DataType.INT64, 0), b.scalar(DataType.INT64, 0)]);
}

const hardSigmoid: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const t = dt(c);
  const alpha = c.attrF('alpha', 0.2);
  const beta = c.attrF('beta', 0.5);
  const v = b.add(b.mul(c.inputs[0]!, b.scalar(t, alpha)), b.scalar(t, beta));
  return [b.mul(gate(c, inside(c, v, b.scalar(t, 0), b.scalar(t, 1))), b.scalar(t, alpha))];
};

const hardSwish: Rule = (c) => {
  if (!c.needs[0]) return [];
  // y = x * clip(x/6 + 1/2, 0, 1): 0 below -3, 1 above 3, (2x + 3)/6 between.
  const b = c.b;
  const t = dt(c);
  const x = c.inputs[0]!;
  const mid = b.add(b.mul(x, b.scalar(t, 1 / 3)), b.scalar(t, 0.5));
  const hi = b.op1('Where', [b.op1('Greater', [x, b.scalar(t, 3)]), b.scalar(t, 1), mid]);
  const d = b.op1('Where', [b.op1('Less', [x, b.scalar(t, -3)]), b.scalar(t, 0), hi]);
  return [b.mul(c.gradOut[0]!, d)];
};

const clip: Rule = (c) => {
  const b = c.b;
  const t = dt(c);
  let lo: string | undefined;
  let hi: string | undefined;
  if (b.opset < 11) {
    lo = b.scalar(t, c.attrF('min', -3.4028234663852886e38));
    hi = b.scalar(t, c.attrF('max', 3.4028234663852886e38));
  } else {
    lo = c.inputs[1] || undefined;
    hi = c.inputs[2] || undefined;
  }
  // The bounds count as constants: gradients w.r.t. them are not produced.
  return [c.needs[0] ? gate(c, inside(c, c.inputs[0]!, lo, hi)) : undefined];
};

const gelu: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const t = dt(c);
  const x = c.inputs[0]!;
  const s = (v: number): string => b.scalar(t, v);
  let d: string;
  if ((c.attrS('approximate') ?? 'none') === 'tanh') {
    // y = x/2 (1 + tanh(u)), u = k (x + 0.044715 x^3)
    const k = Math.sqrt(2 / Math.PI);
    const x2 = b.mul(x, x);
    const u = b.mul(s(k), b.add(x, b.mul(s(0.044715), b.mul(x2, x))));
    const th = b.op1('Tanh', [u]);
    const du = b.mul(s(k), b.add(s(1), b.mul(s(3 * 0.044715), x2)));
    const sech2 = b.sub(s(1), b.mul(th, th));
    d = b.add(b.mul(s(0.5), b.add(s(1), th)), b.mul(b.mul(s(0.5), x), b.mul(sech2, du)));
  } else {
    // y = x Φ(x): Φ(x) + x φ(x)
    const cdf = b.mul(s(0.5), b.add(s(1), b.op1('Erf', [b.mul(x, s(Math.SQRT1_2))])));
    const pdf = b.mul(s(1 / Math.sqrt(2 * Math.PI)), b.op1('Exp', [b.mul(s(-0.5), b.mul(x, x))]));
    d = b.add(cdf, b.mul(x, pdf));
  }
  return [b.mul(c.gradOut[0]!, d)];
};

const where: Rule = (c) => {
  const b = c.b;
  const g = c.gradOut[0]!;
  const [cond] = c.inputs as [string];
  const zero = b.scalar(dt(c), 0);
  return [
    undefined,
    c.needs[1] ? toInput(c, b.op1('Where', [cond, g, zero]), 1) : undefined,
    c.needs[2] ? toInput(c, b.op1('Where', [cond, zero, g]), 2) : undefined,
  ];
};

const cast: Rule = (c) => {
  if (!c.needs[0]) return [];
  const from = c.info(c.inputs[0]!).dtype;
  if (!isFloatCode(from)) return [];
  return [from === dt(c) ? c.gradOut[0]! : c.b.cast(c.gradOut[0]!, from)];
};

const sum: Rule = (c) => c.inputs.map((_, k) => (c.needs[k] ? toInput(c, c.gradOut[0]!, k) : undefined));

/** Max/Min of two or more operands: the gradient goes to the operand(s) holding the extreme, shared on ties. */
const extremum: Rule = (c) => {
  const b = c.b;
  const y = c.outputs[0]!;
  const t = dt(c);
  const masks = c.inputs.map((x) => b.cast(b.equal(x, y), t));
  const ties = masks.length === 1 ? masks[0]! : b.op1('Sum', masks);
  const g = b.div(c.gradOut[0]!, ties);
  return c.inputs.map((_, k) => (c.needs[k] ? toInput(c, b.mul(g, masks[k]!), k) : undefined));
};

const dropout: Rule = (c) => {
  if (!c.needs[0]) return [];
  if (c.attrI('training_mode', 0) !== 0 || (c.inputs[2] && c.constValues(c.inputs[2])?.[0] !== 0)) {
    throw new UnsupportedForm('Dropout in training mode');
  }
  return [c.gradOut[0]!];
};

export const elementwiseRules: Record<string, Rule> = {
  Add: add, Sub: sub, Mul: mul, Div: div, Pow: pow, Sqrt: sqrt, Reciprocal: reciprocal, Neg: neg,
  Exp: exp, Log: log, Tanh: tanh, Sigmoid: sigmoid, Relu: relu, LeakyRelu: leakyRelu, Erf: erf,
  Gelu: gelu, HardSigmoid: hardSigmoid, HardSwish: hardSwish, Clip: clip, Where: where, Cast: cast,
  Identity: identity, Sum: sum, Max: extremum, Min: extremum, Sin: sin, Cos: cos, Abs: abs,
  Softplus: softplus, Dropout: dropout,
};

/** Ops whose output is piecewise constant or not a real number: no gradient flows through them. */
export const noGradientOps = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Range', 'Constant', 'Equal', 'Less', 'LessOrEqual', 'Greater',
  'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'ArgMax', 'ArgMin', 'NonZero', 'OneHot', 'Floor', 'Ceil',
  'Round', 'Sign', 'IsNaN', 'IsInf', 'EyeLike', 'RandomNormal', 'RandomUniform', 'RandomNormalLike',
  'RandomUniformLike', 'Multinomial', 'Bernoulli'
]);
