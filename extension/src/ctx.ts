// The extension's lifetime: one output channel, the language client, and every disposable.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';

export class Ctx {
  readonly output: vscode.LogOutputChannel;
  client: LanguageClient | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private settle!: (c: LanguageClient | undefined) => void;
  /** Resolves once the language server has started (undefined if it could not). */
  readonly clientReady = new Promise<LanguageClient | undefined>((resolve) => { this.settle = resolve; });

  constructor(readonly extension: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('QRecipe', { log: true });
    this.push(this.output);
  }

  setClient(client: LanguageClient | undefined): void {
    this.client = client;
    this.settle(client);
  }

  push(...d: vscode.Disposable[]): void {
    this.disposables.push(...d);
  }

  log(message: string): void {
    this.output.info(message);
  }

  /** Absolute path of a file shipped with the extension (dist/, native/, examples/ ...). */
  asset(relative: string): string {
    return this.extension.asAbsolutePath(relative);
  }

  async dispose(): Promise<void> {
    try {
      await this.client?.stop();
    } catch (err) {
      this.output.warn(`language server did not stop cleanly: ${String(err)}`);
    }
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
