/**
 * The cancellation and progress conventions of every long operation, native calls and the engine
 * alike: one `CancelledError`, one `Progress`. Pure (imports nothing, loads no addon), so the shared
 * core re-exports it (language-server/core/util/cancel.ts) and native/index.ts throws the same type.
 */

/** Progress of a long operation: `done` of `total` units (column blocks, token slabs, batches...). */
export interface Progress {
  done: number;
  total: number;
  label?: string;
}

/** Options every long operation accepts. */
export interface LongRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Thrown (or a Promise rejected with it) by a long operation whose AbortSignal fired. */
export class CancelledError extends Error {
  /** `what` was cancelled: "calibration cancelled" (default "operation cancelled"). */
  constructor(what = 'operation') {
    super(`${what} cancelled`);
    this.name = 'CancelledError';
  }
}
