// The extension-host side of every QRecipe webview panel, written once: the panel and its HTML shell,
// messages validated on arrival (isFromWebview) and dispatched to the panel's handler, the
// webview's own `log` messages into the output channel, errors reported back to the view, and the
// serializer that brings a panel back after a reload (with `onWebviewPanel:<viewType>` activation).
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { webviewHtml, webviewOptions } from './webview-html';
import { isFromWebview, type FromWebview, type ToWebview } from '../../../webviews/protocol';

export interface PanelSpec {
  viewType: string;
  /** Bundle in dist/webviews/. */
  script: string;
  /** What the output channel calls it ("compare view"). */
  name: string;
}

export abstract class PanelHost {
  private disposed = false;

  protected constructor(protected readonly ctx: Ctx, readonly panel: vscode.WebviewPanel, spec: PanelSpec, title: string, initial: unknown) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'extension', 'media', 'icon.png');
    panel.webview.html = webviewHtml(panel.webview, ctx.extension.extensionUri, { script: spec.script, title, initial });
    const sub = panel.webview.onDidReceiveMessage((m: unknown) => { void this.receive(spec.name, m); });
    panel.onDidDispose(() => {
      this.disposed = true;
      sub.dispose();
      this.onDispose();
    });
  }

  /** Opens a new panel of this kind (the subclass adopts it). */
  static create(ctx: Ctx, spec: PanelSpec, title: string, column: vscode.ViewColumn): vscode.WebviewPanel {
    return vscode.window.createWebviewPanel(spec.viewType, title, column, webviewOptions(ctx.extension.extensionUri));
  }

  /** Brings panels of this kind back after a reload from the state their webview saved. */
  static registerSerializer(ctx: Ctx, spec: PanelSpec, revive: (panel: vscode.WebviewPanel, state: unknown) => void): void {
    ctx.push(vscode.window.registerWebviewPanelSerializer(spec.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        panel.webview.options = webviewOptions(ctx.extension.extensionUri);
        revive(panel, state);
      },
    }));
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  protected post(m: ToWebview): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  private async receive(name: string, m: unknown): Promise<void> {
    if (!isFromWebview(m)) {
      this.ctx.output.warn(`${name} sent an invalid message: ${JSON.stringify(m)?.slice(0, 200)}`);
      return;
    }
    if (m.type === 'log') {
      this.ctx.output[m.level === 'error' ? 'error' : m.level === 'warning' ? 'warn' : 'info'](`${name}: ${m.message}`);
      return;
    }
    try {
      await this.handle(m);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.output.error(`${name}: ${message}`);
      this.onError(message);
    }
  }

  /** One validated message from the webview (never `log`, handled here). */
  protected abstract handle(m: FromWebview): Promise<void>;

  /** A handler threw: tell the view (default: the output channel only). */
  protected onError(message: string): void {
    void message;
  }

  protected onDispose(): void {
    // subclasses forget the panel here
  }
}
