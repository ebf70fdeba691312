// Runs a short `qrecipe` CLI command (init, import-llmc) in a child process and collects its output;
// the long ones speak the runner protocol (run, sensitivity, spade, export with --json-events) and go
// through RunnerProcess instead.
import { spawn } from 'node:child_process';
import type * as vscode from 'vscode';
import type { Ctx } from './ctx';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  ctx: Ctx,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; token?: vscode.CancellationToken; onLine?: (l: string) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ctx.asset('dist/cli.js'), ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (opts.onLine) for (const l of d.split('\n')) if (l.trim()) opts.onLine(l);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const sub = opts.token?.onCancellationRequested(() => child.kill('SIGINT'));
    child.on('error', (err) => { stderr += `could not start qrecipe: ${err.message}`; });
    child.on('close', (code) => {
      sub?.dispose();
      ctx.output.debug(`qrecipe ${args.join(' ')} -> ${code}`);
      resolve({ code, stdout, stderr });
    });
  });
}
