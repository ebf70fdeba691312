import type { Rule } from './types';

export const nnRules: Record<string, Rule> = {};
