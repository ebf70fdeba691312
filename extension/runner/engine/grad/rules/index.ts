/** The table of gradient rules by op type (default ONNX domain), assembled from the op families. */
import { elementwiseRules, noGradientOps } from './elementwise';
import { matmulRules } from './matmul';
import { nnRules } from './nn';
import { reduceRules } from './reduce';
import { shapeRules } from './shape';
import type { Rule } from './types';

export const allRules: Record<string, Rule> = {
  ...elementwiseRules, ...matmulRules, ...shapeRules, ...reduceRules, ...nnRules,
};

export { noGradientOps };

/** Op types that have a gradient rule, sorted (for reports and docs). */
export function ruleNames(): string[] {
  return Object.keys(allRules).sort();
}
