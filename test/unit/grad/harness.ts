// Finite-difference checker for gradient rules: builds a small random ONNX graph, differentiates
// Σ output · R (R fixed random) with our pipeline, and compares with central differences computed
// through onnxruntime on the same forward graph.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { ModelProto, NodeProto, TensorProto } from '../../../language-server/core/model/onnx-proto';
import { encodeMessage } from '../../../language-server/core/model/onnx-proto';
import { DataType } from '../../../language-server/core/model/onnx-schema';
import { makeTensor, type Attr } from '../../../extension/runner/engine/grad/builder';
import { buildGradientModel } from '../../../extension/runner/engine/grad/gradient-model';
import { Rng } from '../../../language-server/core/util/rng';

export { ai, af, aints } from '../../../extension/runner/engine/grad/builder';

export interface FdInput {
  dims: number[];
  /** normal (default), positive (0.5..2), int (0..maxInt-1, int64), bool (random) */
  init?: 'normal' | 'positive' | 'int' | 'bool';
  maxInt?: number;
  /** Fixed values instead of random ones. */
  values?: number[];
  /** Stored as an initializer in the gradient model (a weight); still checked. */
  initializer?: boolean;
  /** Not differentiated (e.g. shape or axes inputs). */
  constant?: boolean;
  /** Element type for this input (default: the case's dtype). */
  dtype?: number;
}

export interface FdCase {
  name: string;
  opset?: number;
  dtype?: 'float' | 'double';
  inputs: Record<string, FdInput>;
  nodes: { op: string; inputs: string[]; outputs?: string[]; attrs?: Attr[] }[];
  /** Value the loss reads (default: first output of the last node). */
  output?: string;
  step?: number;
  seed?: number;
}

export interface FdResult {
  name: string;
  /** ‖g_fd − g‖ / ‖g_fd‖ per differentiated input. */
  relErr: Record<string, number>;
  maxRelErr: number;
  blocked: string[];
}

function floatCode(c: FdCase): number {
  return c.dtype === 'double' ? DataType.DOUBLE : DataType.FLOAT;
}

function ortType(code: number): ort.Tensor.Type {
  switch (code) {
    case DataType.DOUBLE: return 'float64';
    case DataType.INT64: return 'int64';
    case DataType.BOOL: return 'bool';
    default: return 'float32';
  }
}

function tensorOf(code: number, dims: number[], values: ArrayLike<number>): ort.Tensor {
  switch (code) {
    case DataType.DOUBLE: return new ort.Tensor('float64', Float64Array.from(values), dims);
    case DataType.INT64: return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v)))), dims);
    case DataType.BOOL: return new ort.Tensor('bool', Uint8Array.from(values), dims);
    default: return new ort.Tensor('float32', Float32Array.from(values), dims);
  }
}

function makeValues(inp: FdInput, rng: Rng): number[] {
  if (inp.values) return inp.values;
  const n = inp.dims.reduce((a, d) => a * d, 1);
  return Array.from({ length: n }, () => {
    switch (inp.init) {
      case 'positive': return 0.5 + 1.5 * rng.next();
      case 'int': return rng.int(inp.maxInt ?? 2);
      case 'bool': return rng.int(2);
      default: {
        // Keep values away from 0, where Relu/Abs-like kinks would spoil differences.
        const v = rng.normal();
        return Math.abs(v) < 0.05 ? v + Math.sign(v || 1) * 0.1 : v;
      }
    }
  });
}

function buildProto(c: FdCase, values: Map<string, number[]>, asInitializer: (name: string) => boolean): ModelProto {
  const code = floatCode(c);
  const inputs = [];
  const inits: TensorProto[] = [];
  for (const [name, inp] of Object.entries(c.inputs)) {
    const dt = inp.dtype ?? (inp.init === 'int' ? DataType.INT64 : inp.init === 'bool' ? DataType.BOOL : code);
    if (inp.constant || asInitializer(name)) inits.push(makeTensor(name, dt, inp.dims, values.get(name)!));
    else inputs.push({ name, type: { tensorType: { elemType: dt, shape: { dim: inp.dims.map((d) => ({ dimValue: d })) } } } });
  }
  const nodes: NodeProto[] = c.nodes.map((n, k) => ({
    opType: n.op, input: n.inputs, output: n.outputs ?? [`y${k}`], name: `n${k}`,
    attribute: (n.attrs ?? []).map((a) => {
      if ('i' in a) return { name: a.name, type: 2, i: a.i };
      if ('f' in a) return { name: a.name, type: 1, f: a.f };
      if ('ints' in a) return { name: a.name, type: 7, ints: a.ints };
      if ('floats' in a) return { name: a.name, type: 6, floats: a.floats };
      if ('s' in a) return { name: a.name, type: 3, s: new TextEncoder().encode(a.s) };
      return { name: a.name, type: 4, t: a.t };
    }),
  }));
  const last = c.nodes.length - 1;
  const output = c.output ?? (c.nodes[last]!.outputs?.[0] ?? `y${last}`);
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: c.opset ?? 17 }],
    graph: { name: c.name.replace(/\W/g, '_'), node: nodes, initializer: inits, input: inputs, output: [{ name: output }] },
  };
}

async function lossOf(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, out: string): Promise<number> {
  const r = await session.run(feeds, [out]);
  return Number((r[out]!.data as Float64Array | Float32Array)[0]);
}

export async function checkCase(c: FdCase): Promise<FdResult> {
  const rng = new Rng(c.seed ?? 7);
  const code = floatCode(c);
  const values = new Map<string, number[]>();
  for (const [name, inp] of Object.entries(c.inputs)) values.set(name, makeValues(inp, rng));
  const diff = Object.entries(c.inputs).filter(([, i]) => !i.constant && (i.init ?? 'normal') !== 'int' && i.init !== 'bool' && !i.dtype).map(([n]) => n);

  // Gradient model: `initializer` inputs stay weights of the graph.
  const gradProto = buildProto(c, values, (n) => !!c.inputs[n]!.initializer);
  const feedsFor = (proto: ModelProto, vals: Map<string, number[]>): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {};
    for (const i of proto.graph!.input!) {
      const t = i.type!.tensorType!;
      f[i.name!] = tensorOf(t.elemType!, c.inputs[i.name!]!.dims, vals.get(i.name!)!);
    }
    return f;
  };
  // Output dims for the random projection R.
  const probe = await ort.InferenceSession.create(encodeMessage('ModelProto', gradProto));
  const outName = gradProto.graph!.output![0]!.name!;
  const outT = (await probe.run(feedsFor(gradProto, values), [outName]))[outName]!;
  await probe.release();
  const R = Array.from({ length: outT.size }, () => rng.normal());
  const spec = { kind: 'weighted' as const, weights: R };

  const gm = await buildGradientModel(gradProto, feedsFor(gradProto, values), { wrt: diff, loss: spec });
  const gs = await ort.InferenceSession.create(gm.bytes);
  const gr = await gs.run(feedsFor(gradProto, values));
  const analytic = new Map([...gm.gradOutputs].map(([w, o]) => [w, Array.from(gr[o]!.data as Float32Array, Number)]));
  await gs.release();

  // Forward-only loss model with every input fed, for the differences.
  const fdProto = buildProto(c, values, () => false);
  const lm = await buildGradientModel(fdProto, feedsFor(fdProto, values), { wrt: [], loss: spec });
  const ls = await ort.InferenceSession.create(lm.bytes);
  const h = c.step ?? (code === DataType.DOUBLE ? 1e-5 : 1e-2);
  const relErr: Record<string, number> = {};
  for (const name of diff) {
    const an = analytic.get(name);
    if (!an) { relErr[name] = Infinity; continue; }
    const base = values.get(name)!;
    let num = 0;
    let den = 0;
    for (let k = 0; k < base.length; k++) {
      const plus = new Map(values);
      const minus = new Map(values);
      plus.set(name, base.map((v, j) => (j === k ? v + h : v)));
      minus.set(name, base.map((v, j) => (j === k ? v - h : v)));
      const fd = ((await lossOf(ls, feedsFor(fdProto, plus), lm.loss)) - (await lossOf(ls, feedsFor(fdProto, minus), lm.loss))) / (2 * h);
      num += (fd - an[k]!) ** 2;
      den += fd * fd;
    }
    relErr[name] = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
  }
  await ls.release();
  return {
    name: c.name,
    relErr,
    maxRelErr: Math.max(0, ...Object.values(relErr)),
    blocked: [...gm.blocked.keys()],
  };
}

/** Runs every case as its own test and asserts the relative error bound. */
export function fdSuite(cases: FdCase[], bound = 1e-3): void {
  for (const c of cases) {
    test(c.name, async () => {
      const r = await checkCase(c);
      const errs = Object.entries(r.relErr).map(([k, v]) => `${k}=${v.toExponential(2)}`).join(' ');
      console.log(`fd ${c.dtype ?? 'float'} ${c.name}: ${errs}`);
      assert.equal(r.blocked.length, 0, `blocked: ${r.blocked.join(', ')}`);
      assert.ok(Object.keys(r.relErr).length > 0, 'nothing was differentiated');
      assert.ok(r.maxRelErr < bound, `relative error ${r.maxRelErr} >= ${bound} (${errs})`);
    });
  }
}

export { ortType };
