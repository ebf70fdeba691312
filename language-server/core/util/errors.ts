/**
 * What a user reads when something fails. QRecipe's own errors name the file, layer or line and say
 * what to do; a raw JavaScript error (TypeError, RangeError: "Invalid typed array length: -2048",
 * "Cannot read properties of undefined") is a bug or an input that slipped past a check, and is
 * shown as such — with what it said, and how to report it — never as if it were an explanation.
 */
const RAW = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'InternalError']);

/** Whether `err` is a raw engine error rather than one QRecipe wrote for the user. */
export function isRawError(err: unknown): boolean {
  return err instanceof Error && RAW.has(err.name) && err.constructor !== Error;
}

/** The message to show for `err`. */
export function userMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (isRawError(err)) return `internal error (${err.name}: ${err.message}); this is a bug or an input QRecipe should have refused: please report it with QRECIPE_DEBUG=1 for the stack`;
  return err.message;
}
