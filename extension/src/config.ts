// Typed access to the extension's settings (package.json `contributes.configuration`).
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
    calibrationSamples: c.get<number>('calibration.samples', 128),
    calibrationSeed: c.get<number>('calibration.seed', 0),
  };
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
