// The long analysis commands (`sensitivity`, `spade`) speak the runner protocol like `run`: with
// --json-events, progress events with a per-phase ETA on stdout, the answer as one `result` event,
// then `run-end`; a {"type":"cancel"} line on stdin or SIGINT stops them (run-end cancelled, exit
// 130). With --json they print only the answer as JSON; otherwise a readable report, with progress
// lines on stderr.
import type { RunnerEvent, StageKind } from '../../language-server/core/protocol/runner';
import type { Progress } from '../../language-server/core/util/cancel';
import { createSink, type EventSink } from './events';
import { listenForCancel } from './cancel';

export type OutputMode = 'events' | 'json' | 'text';

export function outputMode(flags: Set<string>): OutputMode {
  return flags.has('json-events') ? 'events' : flags.has('json') ? 'json' : 'text';
}

/**
 * Progress of a multi-phase analysis as runner events. A phase is the label's first word and the
 * total ('layer q_proj' then 'layer k_proj' out of 28 are one phase); `etaSeconds` is the rest of
 * the phase at its mean pace so far (measured from the phase's first report).
 */
export function progressEvents(emit: (e: RunnerEvent) => void, stage: StageKind, now: () => number = Date.now): (p: Progress) => void {
  let phase: string | undefined;
  let t0 = 0;
  let done0 = 0;
  return (p) => {
    const t = now();
    const key = `${(p.label ?? '').split(' ')[0]}|${p.total}`;
    if (key !== phase || p.done < done0) { phase = key; t0 = t; done0 = p.done; }
    const steps = p.done - done0;
    const eta = steps > 0 && p.total >= p.done ? ((t - t0) / 1000 / steps) * (p.total - p.done) : undefined;
    emit({ type: 'progress', stage, done: p.done, total: p.total, ...(p.label ? { label: p.label } : {}), ...(eta !== undefined ? { etaSeconds: eta } : {}) });
  };
}

export interface AnalysisRun<T> {
  stage: 'sensitivity' | 'spade';
  mode: OutputMode;
  /** The work: reports progress, stops when the signal aborts. */
  work(o: { signal: AbortSignal; onProgress: (p: Progress) => void; sink: EventSink }): Promise<T>;
  result(value: T): Extract<RunnerEvent, { type: 'result' }>;
  /** The readable report of text mode. */
  format(value: T): string;
}

/** Runs an analysis in the chosen output mode; resolves with the exit code (0, 1 failed, 130 cancelled). */
export async function runAnalysis<T>(a: AnalysisRun<T>): Promise<number> {
  const t0 = Date.now();
  const events = a.mode === 'events';
  const cancel = listenForCancel({ stdin: events });
  // text mode: readable progress on stderr (stdout holds the report); json mode: none
  const sink = events ? createSink({ json: true })
    : createSink({ json: false, write: a.mode === 'text' ? (line) => { process.stderr.write(line + '\n'); } : () => undefined });
  const seconds = (): number => (Date.now() - t0) / 1000;
  try {
    const value = await a.work({ signal: cancel.signal, onProgress: progressEvents((e) => sink.emit(e), a.stage), sink });
    if (events) {
      sink.emit(a.result(value));
      sink.emit({ type: 'run-end', status: 'succeeded', seconds: seconds() });
    } else {
      console.log(a.mode === 'json' ? JSON.stringify(a.result(value).data) : a.format(value));
    }
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (cancel.signal.aborted) {
      if (events) sink.emit({ type: 'run-end', status: 'cancelled', seconds: seconds() });
      else console.error(`qrecipe ${a.stage}: cancelled`);
      return 130;
    }
    if (!events) throw err;
    sink.emit({ type: 'run-end', status: 'failed', seconds: seconds(), error: message });
    return 1;
  } finally {
    cancel.dispose();
  }
}
