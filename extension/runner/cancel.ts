// Cancellation of a run: SIGINT, SIGTERM or a `{"type":"cancel"}` line on stdin (what the extension
// writes) aborts one AbortController whose signal is passed down every long call.
import { createInterface } from 'node:readline';

export interface CancelSource {
  signal: AbortSignal;
  /** Stops listening (so that the process can exit). */
  dispose(): void;
}

export function listenForCancel(opts: { stdin: boolean }): CancelSource {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) process.exit(130); // second Ctrl+C: stop now
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
