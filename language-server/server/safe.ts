/**
 * Every request handler runs through `safe`: it returns the default when the request is cancelled
 * before or after the work, and when the work throws (the error is logged, the server keeps going).
 */
import type { CancellationToken } from 'vscode-languageserver';

export type Logger = (message: string) => void;

export function makeSafe(log: Logger) {
  return async function safe<T>(name: string, token: CancellationToken | undefined, fallback: T, work: () => Promise<T> | T): Promise<T> {
    if (token?.isCancellationRequested) return fallback;
    try {
      const r = await work();
      return token?.isCancellationRequested ? fallback : r;
    } catch (e) {
      log(`qrecipe: ${name} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      return fallback;
    }
  };
}
