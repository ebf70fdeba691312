// Read-only documents of the `qrecipe:` scheme: a run's recipe as it ran (recipe diffs), a model's
// inspection, a run's page (markdown). Their content is made from the URI when VS Code asks, so they
// survive a reload, never count as unsaved and close without "Do you want to save…".
// URIs: qrecipe:/<kind>/<title>?<absolute path>, kind one of recipe | inspect | run.
import * as vscode from 'vscode';
import path from 'node:path';

export const SCHEME = 'qrecipe';
export type ReadOnlyKind = 'recipe' | 'inspect' | 'run';

/** A read-only URI: `title` is the tab's name (its extension picks the language), `target` the file it is about. */
export function readOnlyUri(kind: ReadOnlyKind, title: string, target: string): vscode.Uri {
  return vscode.Uri.from({ scheme: SCHEME, path: `/${kind}/${title.replace(/[\\/]/g, '_')}`, query: target });
}

export function parseReadOnlyUri(uri: vscode.Uri): { kind: ReadOnlyKind; target: string } | undefined {
  const kind = uri.path.split('/')[1];
  if (uri.scheme !== SCHEME || (kind !== 'recipe' && kind !== 'inspect' && kind !== 'run') || !path.isAbsolute(uri.query)) return undefined;
  return { kind, target: uri.query };
}

export type ContentSource = (kind: ReadOnlyKind, target: string, uri: vscode.Uri) => Promise<string>;

export class ReadOnlyDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly source: ContentSource) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const p = parseReadOnlyUri(uri);
    if (!p) return `Not a QRecipe document: ${uri.toString()}`;
    try {
      return await this.source(p.kind, p.target, uri);
    } catch (err) {
      return `QRecipe could not make this document: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Re-reads the open documents about `target` (a run that progressed, a model that changed). */
  refresh(target: string): void {
    for (const d of vscode.workspace.textDocuments) {
      const p = d.uri.scheme === SCHEME ? parseReadOnlyUri(d.uri) : undefined;
      if (p && path.resolve(p.target) === path.resolve(target)) this.changed.fire(d.uri);
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}
