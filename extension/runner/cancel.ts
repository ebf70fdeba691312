// Cancellation of a run: SIGINT, SIGTERM or a `{"type":"cancel"}` line on stdin (what the extension
// writes) aborts one AbortController whose signal is passed down every long call. Long calls stop at
// their next check (between batches, layers, tensors); an onnxruntime run already in flight cannot
// be interrupted, so a deadline armed by the run (armCancelDeadline) ends the process once the
// grace time is over, after the run has recorded itself cancelled synchronously.
import { createInterface } from 'node:readline';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface CancelSource {
  signal: AbortSignal;
  /** Stops listening (so that the process can exit). */
  dispose(): void;
}

/** Exit code of a cancelled run. */
export const CANCELLED_EXIT = 130;

/** How long a cancelled run may take to unwind before the process is ended (the promise is 2 s). */
export const CANCEL_GRACE_MS = 1500;

let hardStop: (() => void) | undefined;

/** Records the run cancelled (synchronously) and ends the process. */
function stopNow(): never {
  try {
    hardStop?.();
  } finally {
    process.exit(CANCELLED_EXIT);
  }
}

export function listenForCancel(opts: { stdin: boolean }): CancelSource {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) stopNow(); // second Ctrl+C: stop now
    ac.abort(new Error(`cancelled (${sig})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const rl = opts.stdin && !process.stdin.isTTY ? createInterface({ input: process.stdin }) : undefined;
  rl?.on('line', (line) => {
    try {
      const msg = JSON.parse(line) as { type?: string };
      if (msg.type === 'cancel') ac.abort(new Error('cancelled (cancel message)'));
    } catch {
      // Not JSON: ignore, stdin belongs to the protocol only.
    }
  });
  rl?.on('error', () => undefined);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      rl?.close();
      process.stdin.unref?.();
    },
  };
}

/**
 * Once `signal` aborts, the run has `graceMs` to unwind on its own; after that (or at a second
 * signal) `stop` is called, which must record the cancellation synchronously, and the process
 * exits with CANCELLED_EXIT. Returns the disarm function (call it when the run finishes on its own).
 */
export function armCancelDeadline(signal: AbortSignal, stop: () => void, graceMs = CANCEL_GRACE_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  hardStop = stop;
  const onAbort = (): void => { timer = setTimeout(stopNow, graceMs); };
  if (signal.aborted) onAbort(); else signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    signal.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    if (hardStop === stop) hardStop = undefined;
  };
}

/** Removes this process's unfinished atomic writes (`.<name>.<pid>.<random>.tmp`, util/atomic.ts) from these folders. */
export function removeOwnTempFiles(dirs: readonly string[]): void {
  const mine = new RegExp(`^\\..+\\.${process.pid}\\.[a-z0-9]+\\.tmp$`);
  for (const dir of new Set(dirs)) {
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) if (mine.test(n)) rmSync(path.join(dir, n), { force: true });
  }
}
