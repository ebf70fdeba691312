// The runner's event sink: every RunnerEvent goes to stdout (one JSON object per line with
// --json-events, else a readable line) and, once the run folder exists, to its run.log. The log is
// appended synchronously line by line so that a crash or `kill -9` keeps everything said so far; a
// log that can no longer be written (disk full) is dropped with one warning, the events go on.
import { appendFileSync } from 'node:fs';
import type { RunnerEvent } from '../../language-server/core/protocol/runner';

export interface EventSink {
  emit(e: RunnerEvent): void;
  /** From now on, also append to this log file. */
  attachLog(file: string): void;
}

function fmtSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function fmtMetrics(m: Record<string, number>): string {
  return Object.entries(m).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toPrecision(5)}`).join(', ');
}

/** One readable line per event (what the terminal and run.log show). */
export function formatEvent(e: RunnerEvent): string {
  switch (e.type) {
    case 'run-start': return `run ${e.runId}: ${e.recipe} on ${e.device} -> ${e.runDir}`;
    case 'stage-start': return `[${e.index + 1}] ${e.stage}: ${e.label}`;
    case 'stage-end': return `[${e.index + 1}] ${e.stage} done in ${fmtSeconds(e.seconds)}`;
    case 'progress': return `    ${e.label ?? e.stage} ${e.done}/${e.total}${e.layer ? ` ${e.layer}` : ''}${e.etaSeconds !== undefined ? ` (ETA ${fmtSeconds(e.etaSeconds)}${e.runEtaSeconds !== undefined ? `, run ${fmtSeconds(e.runEtaSeconds)}` : ''})` : ''}`;
    case 'layer': {
      const r = e.result;
      const parts = [r.method, r.bits !== undefined ? `${r.bits} bit${r.groupSize ? ` g${r.groupSize}` : ''}` : undefined,
        r.sparsity !== undefined ? `sparsity ${(100 * r.sparsity).toFixed(1)}%` : undefined,
        r.loss !== undefined ? `loss ${r.loss.toPrecision(4)}` : undefined,
        r.relError !== undefined ? `rel.err ${r.relError.toPrecision(3)}` : undefined,
        r.seconds !== undefined ? fmtSeconds(r.seconds) : undefined].filter(Boolean);
      return `    ${r.name}: ${parts.join(', ')}`;
    }
    case 'metrics': return `  ${e.model} model${e.dataset ? ` on ${e.dataset}` : ''}: ${fmtMetrics(e.metrics)}`;
    case 'log': {
      const where = e.file ? `${e.file}${e.line !== undefined ? `:${e.line}:${e.column ?? 1}` : ''}: ` : '';
      // `file:line:col: error QR102: message`, the one form `check` prints and the $qrecipe problem matcher reads
      const head = e.level === 'info' ? (e.code ? `${e.code}: ` : '') : `${e.level}${e.code ? ` ${e.code}` : ''}: `;
      return `${where}${head}${e.message}`;
    }
    case 'result': return `${e.command} result`;
    case 'artifact': return `  wrote ${e.kind} ${e.path} (${e.bytes.toLocaleString('en-US')} bytes)`;
    case 'write-refused': return `refused to write: ${e.problems.map((p) => p.path).join(', ')}`;
    case 'run-end': return `run ${e.status} in ${fmtSeconds(e.seconds)}${e.error ? `: ${e.error}` : ''}`;
  }
}

/** Progress events are throttled on a terminal (not in JSON mode, where the reader decides). */
export function createSink(opts: { json: boolean; write?: (line: string) => void }): EventSink {
  const write = opts.write ?? ((line: string) => { process.stdout.write(line + '\n'); });
  let log: string | undefined;
  let lastProgress = 0;
  return {
    attachLog(file) { log = file; },
    emit(e) {
      const text = formatEvent(e);
      if (log && e.type !== 'progress') {
        try {
          appendFileSync(log, `${new Date().toISOString()} ${text}\n`);
        } catch (err) {
          // a full disk must not stop the run's events (the last of which is run-end): say it once, go on
          const warning = `${log} can no longer be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); events continue here only`;
          log = undefined;
          if (opts.json) write(JSON.stringify({ type: 'log', level: 'warning', message: warning }));
          else process.stderr.write(`warning: ${warning}\n`);
        }
      }
      if (opts.json) { write(JSON.stringify(e)); return; }
      if (e.type === 'progress') {
        const now = Date.now();
        if (now - lastProgress < 500 && e.done < e.total) return;
        lastProgress = now;
      }
      if (e.type === 'log' && e.level !== 'info') process.stderr.write(text + '\n'); else write(text);
    },
  };
}
