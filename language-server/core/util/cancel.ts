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
