// Typed access to the extension's settings (package.json `contributes.configuration`); every key
// declared there is read here and used (test/unit/extension/manifest.test.ts checks both ways).
import * as vscode from 'vscode';
import path from 'node:path';
import { runsRoot } from '../../language-server/core/runs/store';

export type Device = 'auto' | 'cpu' | 'cuda';

export function config() {
  const c = vscode.workspace.getConfiguration('qrecipe');
  return {
    device: c.get<Device>('device', 'auto'),
    runsFolder: c.get<string>('runsFolder', '.qrecipe/runs'),
    executionProvider: c.get<string>('executionProvider', 'auto'),
    threads: c.get<number>('threads', 0),
  };
}

/**
 * The environment of every runner process (run, sensitivity, SPADE, export, tasks): the native
 * addon's OpenMP loops read OMP_NUM_THREADS, onnxruntime sessions read QRECIPE_THREADS and
 * QRECIPE_EXECUTION_PROVIDER. (`device` is a command-line flag of the commands that take it.)
 */
export function runnerEnv(): Record<string, string> {
  const cfg = config();
  const env: Record<string, string> = {};
  if (cfg.threads > 0) env.QRECIPE_THREADS = env.OMP_NUM_THREADS = String(cfg.threads);
  if (cfg.executionProvider !== 'auto') env.QRECIPE_EXECUTION_PROVIDER = cfg.executionProvider;
  return env;
}

/** The workspace folder a file belongs to (or the first one, or the file's own folder). */
export function workspaceFolderOf(file?: vscode.Uri): string | undefined {
  const f = file ? vscode.workspace.getWorkspaceFolder(file) : undefined;
  return (f ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath ?? (file ? path.dirname(file.fsPath) : undefined);
}

/** Absolute run-store folder for a workspace folder. */
export function runsFolder(workspace: string): string {
  return runsRoot(workspace, config().runsFolder);
}
