/**
 * Every bound QRecipe puts on untrusted input, in one place: recipes and models come from strangers,
 * and no input may make the checker, the language server or the runner hang, grow without bound or
 * crash. Each limit is reported to the user by name when it is hit (docs/recipe-language.md,
 * docs/runner.md).
 */

/** Longest `re:` pattern body accepted (characters); longer ones are refused with QR115. */
export const MAX_REGEX_CHARS = 4096;
/** Largest compiled pattern (NFA instructions after counted repetitions are expanded). */
export const MAX_REGEX_PROGRAM = 20_000;
/** Largest count in `{n}`, `{n,m}` (as RE2). */
export const MAX_REGEX_REPEAT = 1000;
/** States the lazy DFA of one pattern keeps before it starts over (bounds memory, not time). */
export const MAX_REGEX_DFA_STATES = 2000;
