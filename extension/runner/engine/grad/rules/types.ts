/** The contract between the differentiation driver and the per-op gradient rules. */
import type { NodeProto } from '../../../../../language-server/core/model/onnx-proto';
import type { GraphBuilder, ValueInfo } from '../builder';

/** What a rule sees of the node it differentiates. */
export interface RuleContext {
  b: GraphBuilder;
  node: NodeProto;
  /** Input names of the node ('' for an omitted optional input). */
  inputs: string[];
  outputs: string[];
  /** Gradient of the loss w.r.t. each output; undefined where no gradient reaches that output. */
  gradOut: (string | undefined)[];
  /** Which inputs need a gradient (float values on a path from a requested value to the loss). */
  needs: boolean[];
  /** Probed shape and type of a forward value. */
  info(name: string): ValueInfo;
  /** The values of a constant int/float tensor feeding the node (initializer or Constant), if any. */
  constValues(name: string): number[] | undefined;
  /** Integer attribute, with default. */
  attrI(name: string, fallback: number): number;
  attrF(name: string, fallback: number): number;
  attrInts(name: string): number[] | undefined;
  attrS(name: string): string | undefined;
}

/** A gradient rule: the gradient w.r.t. each input (undefined where none is needed or exists). */
export type Rule = (ctx: RuleContext) => (string | undefined)[];

/** Thrown by a rule for a form of its op it cannot differentiate (reported like a missing rule). */
export class UnsupportedForm extends Error {}

/** Normalises a possibly negative axis for a tensor of `rank` dimensions. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_, k) => a + k);
}
