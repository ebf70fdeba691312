/** Cancellation and progress conventions shared by every long operation of the core. */

export interface Progress { done: number; total: number; label?: string }

/** Options every long operation accepts. */
export interface LongRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Thrown by a long operation whose AbortSignal fired. */
export class CancelledError extends Error {
  constructor(what = 'operation') {
    super(`${what} cancelled`);
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}

/** Yields to the event loop so that an abort (or other work) can get in between long CPU steps. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
