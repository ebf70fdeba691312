/**
 * Layer patterns, as in llm-compressor: `re:REGEX` (matched from the start of the layer name, like
 * Python's re.match), globs with `*` and `?` (whole name), op names (`Linear` = MatMul + Gemm,
 * `MatMul`, `Gemm`, `Conv`/`Conv2d`, `Gather`/`Embedding`) and exact layer names.
 */
import type { LayerInfo, LayerOp } from '../model/types';

export type PatternKind = 'regex' | 'glob' | 'op' | 'name';

export interface CompiledPattern {
  text: string;
  kind: PatternKind;
  test(layer: LayerInfo): boolean;
}

const OP_NAMES: Record<string, LayerOp[]> = {
  Linear: ['MatMul', 'Gemm'], MatMul: ['MatMul'], Gemm: ['Gemm'], Conv: ['Conv'], Conv2d: ['Conv'],
  Gather: ['Gather'], Embedding: ['Gather'],
};

/** The op names a pattern may use, for completion and docs. */
export const PATTERN_OP_NAMES = Object.keys(OP_NAMES);

/** Compiles a pattern; returns an error message for an invalid regular expression. */
export function compilePattern(text: string): CompiledPattern | { error: string } {
  if (text.startsWith('re:')) {
    const body = text.slice(3);
    try {
      const re = new RegExp(`^(?:${body})`);
      return { text, kind: 'regex', test: (l) => re.test(l.name) };
    } catch (e) {
      return { error: e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e) };
    }
  }
  const ops = OP_NAMES[text];
  if (ops) return { text, kind: 'op', test: (l) => l.name === text || ops.includes(l.op) };
  if (/[*?]/.test(text)) {
    const re = new RegExp(`^${text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return { text, kind: 'glob', test: (l) => re.test(l.name) };
  }
  return { text, kind: 'name', test: (l) => l.name === text };
}

export function isCompiled(p: CompiledPattern | { error: string }): p is CompiledPattern {
  return (p as CompiledPattern).test !== undefined;
}

/** Layers targeted when a stage has no `targets`: every MatMul, Gemm and Conv. */
export function isDefaultTarget(l: LayerInfo): boolean {
  return l.op === 'MatMul' || l.op === 'Gemm' || l.op === 'Conv';
}
