/**
 * Reverse-mode differentiation of an ONNX graph: walks the nodes from the loss back to the
 * requested values and emits, through the per-op rules, the nodes that compute each gradient.
 * Ops without a rule do not stop the walk: the values whose gradient path crosses one are reported
 * as blocked (with the op and node that blocks them) and get no gradient.
 */
import type { NodeProto } from '../../../../language-server/core/model/onnx-proto';
import { GraphBuilder, isFloatCode, type ValueInfo } from './builder';
import { allRules, noGradientOps } from './rules/index';
import { UnsupportedForm, type RuleContext } from './rules/types';

/** A node the differentiation could not pass. */
export interface UnsupportedOp {
  opType: string;
  /** Node name (or its first output when the node is unnamed). */
  node: string;
  /** Why: 'no gradient rule' or the unsupported form of the op. */
  reason: string;
}

export interface DifferentiateInput {
  nodes: NodeProto[];
  /** Scalar value to differentiate. */
  loss: string;
  /** Values whose gradients are wanted (graph inputs, weights, intermediate values). */
  wrt: string[];
  info: (name: string) => ValueInfo | undefined;
  constValues: (name: string) => number[] | undefined;
  builder: GraphBuilder;
}

export interface DifferentiateResult {
  /** Gradient value name of each differentiable requested value. */
  grads: Map<string, string>;
  /** Requested values whose gradient path crosses an unsupported node, with the nodes. */
  blocked: Map<string, UnsupportedOp[]>;
  /** Requested values that do not reach the loss (their gradient is zero). */
  unused: string[];
  unsupported: UnsupportedOp[];
}

function nodeLabel(n: NodeProto): string {
  return n.name || n.output?.[0] || '(unnamed)';
}

function attribute(n: NodeProto, name: string) {
  return n.attribute?.find((a) => a.name === name);
}

export function differentiate(input: DifferentiateInput): DifferentiateResult {
  const { nodes, loss, wrt, builder: b } = input;
  const info = (name: string): ValueInfo => {
    const i = input.info(name);
    if (!i) throw new Error(`gradient graph: no shape/type known for value '${name}'`);
    return i;
  };
  const isFloat = (name: string): boolean => {
    const i = name ? input.info(name) : undefined;
    return !!i && isFloatCode(i.dtype);
  };

  // Values that depend on a requested value, and values the loss depends on.
  const fwd = new Set(wrt);
  for (const n of nodes) {
    if ((n.input ?? []).some((x) => x && fwd.has(x))) for (const o of n.output ?? []) if (o && isFloat(o)) fwd.add(o);
  }
  const bwd = new Set([loss]);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if ((n.output ?? []).some((o) => o && bwd.has(o))) for (const x of n.input ?? []) if (x) bwd.add(x);
  }
  const active = (v: string): boolean => !!v && fwd.has(v) && bwd.has(v);

  const contributions = new Map<string, string[]>();
  const push = (v: string, g: string): void => {
    const list = contributions.get(v);
    if (list) list.push(g); else contributions.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contributions.get(v);
    if (!list?.length) return undefined;
    const g = list.length === 1 ? list[0]! : b.op1('Sum', list);
    contributions.set(v, [g]);
    return g;
  };
  const blockedBy = new Map<string, UnsupportedOp[]>();
  const block = (v: string, ops: UnsupportedOp[]): void => {
    if (!ops.length) return;
    const cur = blockedBy.get(v) ?? [];
    for (const op of ops) if (!cur.includes(op)) cur.push(op);
    blockedBy.set(v, cur);
  };
  const unsupported: UnsupportedOp[] = [];

  const lossInfo = info(loss);
  push(loss, b.op1('ConstantOfShape', [b.shape(loss)], [{ name: 'value', t: { dataType: lossInfo.dtype, dims: [1], rawData: oneBytes(lossInfo.dtype) } }]));

  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    const outputs = n.output ?? [];
    if (!outputs.some(active)) continue;
    const inputs = n.input ?? [];
    const needs = inputs.map(active);
    if (!needs.some(Boolean)) continue;
    const downstream = outputs.flatMap((o) => blockedBy.get(o) ?? []);
    for (let i = 0; i < inputs.length; i++) if (needs[i]) block(inputs[i]!, downstream);
    const gradOut = outputs.map((o) => (active(o) ? total(o) : undefined));
    if (!gradOut.some((g) => g !== undefined)) continue;
    const op = n.opType ?? '';
    const defaultDomain = !n.domain || n.domain === 'ai.onnx';
    if (defaultDomain && noGradientOps.has(op)) continue;
    const rule = defaultDomain ? allRules[op] : undefined;
    let grads: (string | undefined)[] | undefined;
    let reason = 'no gradient rule';
    if (rule) {
      const ctx: RuleContext = {
        b, node: n, inputs, outputs, gradOut, needs, info, constValues: input.constValues,
        attrI: (name, fb) => attribute(n, name)?.i ?? fb,
        attrF: (name, fb) => attribute(n, name)?.f ?? fb,
        attrInts: (name) => attribute(n, name)?.ints,
        attrS: (name) => {
          const s = attribute(n, name)?.s;
          return s ? new TextDecoder().decode(s) : undefined;
        },
      };
      try {
        grads = rule(ctx);
      } catch (err) {
        if (!(err instanceof UnsupportedForm)) throw err;
        reason = err.message;
      }
    }
    if (!grads) {
      const u: UnsupportedOp = { opType: (defaultDomain ? '' : `${n.domain}:`) + op, node: nodeLabel(n), reason };
      unsupported.push(u);
      for (let i = 0; i < inputs.length; i++) if (needs[i]) block(inputs[i]!, [u]);
      continue;
    }
    for (let i = 0; i < inputs.length; i++) {
      const g = grads[i];
      if (needs[i] && g) push(inputs[i]!, g);
    }
  }

  const grads = new Map<string, string>();
  const blocked = new Map<string, UnsupportedOp[]>();
  const unused: string[] = [];
  for (const w of wrt) {
    const by = blockedBy.get(w);
    if (by?.length) { blocked.set(w, by); continue; }
    const g = total(w);
    if (g) grads.set(w, g);
    else {
      unused.push(w);
      grads.set(w, b.zerosLike(w, info(w).dtype));
    }
  }
  return { grads, blocked, unused, unsupported };
}

function oneBytes(dtype: number): Uint8Array {
  // FLOAT = 1, DOUBLE = 11, FLOAT16 = 10, BFLOAT16 = 16
  if (dtype === 11) return new Uint8Array(new Float64Array([1]).buffer);
  if (dtype === 10) return new Uint8Array([0x00, 0x3c]);
  if (dtype === 16) return new Uint8Array([0x80, 0x3f]);
  return new Uint8Array(new Float32Array([1]).buffer);
}
