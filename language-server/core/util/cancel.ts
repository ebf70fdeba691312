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
