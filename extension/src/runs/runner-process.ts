// One runner child process (`dist/cli.js run|sensitivity|spade ... --json-events`) seen from the extension host:
// its NDJSON events as a VS Code event, cancellation (a cancel line, then SIGINT, then SIGKILL), and
// its exit. Anything the runner does — crash, kill, garbage on stdout — ends here as an event or an
// exit code, never as an exception in the extension host.
import * as vscode from 'vscode';
import { spawn, type ChildProcess } from 'node:child_process';
import { isRunnerEvent, type RunnerEvent } from '../../../language-server/core/protocol/runner';
import { lineSplitter } from '../../../language-server/core/protocol/lines';

export interface RunnerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines of stderr, for the failure message. */
  stderrTail: string;
}

export class RunnerProcess implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<RunnerEvent>();
  private readonly lineEmitter = new vscode.EventEmitter<string>();
  readonly onEvent = this.emitter.event;
  /** Raw lines (stdout that is not an event, and stderr) for the log. */
  readonly onLine = this.lineEmitter.event;
  readonly exited: Promise<RunnerExit>;
  private readonly child: ChildProcess;
  private stderr: string[] = [];

  constructor(cliPath: string, args: string[], opts: { cwd: string; env?: Record<string, string> }) {
    this.child = spawn(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd,
      // In desktop VS Code process.execPath is Electron; this makes it behave as plain Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin?.on('error', () => undefined); // the runner may be gone before we write
    const stdout = lineSplitter((line) => this.handleLine(line));
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    let errBuf = '';
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      errBuf += chunk;
      const lines = errBuf.split('\n');
      errBuf = lines.pop() ?? '';
      for (const l of lines) {
        this.stderr.push(l);
        this.lineEmitter.fire(l);
      }
      this.stderr = this.stderr.slice(-40);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderr.push(`could not start the runner: ${err.message}`);
      });
      this.child.on('close', (code, signal) => {
        stdout.flush();
        if (errBuf) this.stderr.push(errBuf);
        resolve({ code, signal, stderrTail: this.stderr.join('\n') });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** A line is an event only when it validates (isRunnerEvent); anything else goes to the log. */
  private handleLine(line: string): void {
    if (line.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (isRunnerEvent(parsed)) {
        this.emitter.fire(parsed);
        return;
      }
      if (parsed !== undefined) {
        this.lineEmitter.fire(`ignored a malformed runner event: ${line.slice(0, 200)}`);
        return;
      }
    }
    this.lineEmitter.fire(line);
  }

  /** Asks the runner to stop cleanly; escalates if it does not exit in time. */
  cancel(graceMs = 5000): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin?.write('{"type":"cancel"}\n');
    const t1 = setTimeout(() => this.child.kill('SIGINT'), graceMs);
    const t2 = setTimeout(() => this.child.kill('SIGKILL'), graceMs * 3);
    void this.exited.then(() => { clearTimeout(t1); clearTimeout(t2); });
  }

  /** Kills the process at once (used in tests of crash handling, and on dispose). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  dispose(): void {
    this.kill();
    this.emitter.dispose();
    this.lineEmitter.dispose();
  }
}
