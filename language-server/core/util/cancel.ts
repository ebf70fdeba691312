/**
 * Cancellation and progress conventions shared by every long operation: the types are the native
 * backend's (native/cancel.ts, pure), so a native call and a core or engine loop throw one
 * `CancelledError` and report one `Progress`.
 */
import { CancelledError } from '../../../native/cancel';

export { CancelledError };
export type { LongRunOptions, Progress } from '../../../native/cancel';

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}

/** Yields to the event loop so that an abort (or other work) can get in between long CPU steps. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs a stepped computation (a generator that yields between steps) to its end, at once. */
export function drain<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs a stepped computation, giving the event loop a turn whenever `sliceMs` have passed, so other
 * work (a language server's other requests) gets in; throws CancelledError once `signal` fires.
 */
export async function drainSliced<T>(steps: Generator<void, T, void>, sliceMs: number, signal?: AbortSignal): Promise<T> {
  let slice = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - slice > sliceMs) {
      await yieldToLoop();
      throwIfAborted(signal, 'analysis');
      slice = performance.now();
    }
  }
}
