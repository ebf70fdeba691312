// Small helpers for extension-host tests: open a document, wait for events instead of sleeping.
import * as vscode from 'vscode';
import path from 'node:path';

export const EXTENSION_ID = 'qrecipe.qrecipe';

export function workspacePath(...parts: string[]): string {
  const root = process.env.QRECIPE_TEST_WORKSPACE ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!root) throw new Error('no test workspace');
  return path.join(root, ...parts);
}

export async function activeExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not installed`);
  await ext.activate();
  return ext;
}

/** Resolves with the document's diagnostics once `accept` holds for them (or rejects after `ms`). */
export function waitForDiagnostics(uri: vscode.Uri, accept: (d: readonly vscode.Diagnostic[]) => boolean, ms = 20_000): Promise<readonly vscode.Diagnostic[]> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const d = vscode.languages.getDiagnostics(uri);
      if (accept(d)) {
        sub.dispose();
        clearTimeout(timer);
        resolve(d);
        return true;
      }
      return false;
    };
    const sub = vscode.languages.onDidChangeDiagnostics((e) => {
      if (e.uris.some((u) => u.toString() === uri.toString())) check();
    });
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`diagnostics condition not met within ${ms} ms; last: ${JSON.stringify(vscode.languages.getDiagnostics(uri).map((x) => x.message))}`));
    }, ms);
    check();
  });
}
