import type { Rule } from './types';

export const shapeRules: Record<string, Rule> = {};
