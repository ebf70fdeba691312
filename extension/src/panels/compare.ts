// The Compare panel: two or more runs side by side (metrics with deltas against the original model,
// a size-vs-quality scatter with its Pareto front, per-layer bits/sparsity), and the recipe diff in
// VS Code's own diff editor. Survives reloads through a WebviewPanelSerializer keyed on run folders.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { webviewHtml, webviewOptions } from './webview-html';
import { readRun } from '../../../language-server/core/runs/store';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { isFromWebview, type ToWebview } from '../../../webviews/protocol';
import { compareData } from './compare-data';

export const COMPARE_VIEW_TYPE = 'qrecipe.compare';

/** What the webview keeps with setState and the serializer gets back after a reload. */
interface CompareState {
  runDirs: string[];
}

export class ComparePanel {
  private static current: ComparePanel | undefined;

  static show(ctx: Ctx, runs: { dir: string }[]): void {
    const dirs = runs.map((r) => r.dir);
    if (ComparePanel.current) {
      ComparePanel.current.panel.reveal();
      void ComparePanel.current.load(dirs);
      return;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, 'QRecipe: Compare Runs', vscode.ViewColumn.Active, webviewOptions(ctx.extension.extensionUri));
    ComparePanel.current = new ComparePanel(ctx, panel, dirs);
  }

  static register(ctx: Ctx): void {
    ctx.push(vscode.window.registerWebviewPanelSerializer(COMPARE_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const dirs = (state as CompareState | undefined)?.runDirs ?? [];
        panel.webview.options = webviewOptions(ctx.extension.extensionUri);
        ComparePanel.current = new ComparePanel(ctx, panel, dirs);
      },
    }));
  }

  private records: RunRecord[] = [];
  private dirs: string[] = [];

  private constructor(private readonly ctx: Ctx, readonly panel: vscode.WebviewPanel, dirs: string[]) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'extension', 'media', 'icon.png');
    panel.webview.html = webviewHtml(panel.webview, ctx.extension.extensionUri, { script: 'compare.js', title: 'Compare runs', initial: { runDirs: dirs } satisfies CompareState });
    panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m));
    panel.onDidDispose(() => {
      if (ComparePanel.current === this) ComparePanel.current = undefined;
    });
    this.dirs = dirs;
  }

  private async load(dirs: string[]): Promise<void> {
    this.dirs = dirs;
    const records: RunRecord[] = [];
    for (const d of dirs) {
      try {
        records.push(await readRun(d));
      } catch (err) {
        this.ctx.output.warn(`compare: ${(err as Error).message}`);
      }
    }
    this.records = records;
    this.panel.title = `QRecipe: Compare ${records.length} runs`;
    this.post({ type: 'compare/data', data: compareData(records) });
  }

  private post(m: ToWebview): void {
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isFromWebview(m)) {
      this.ctx.output.warn(`compare view sent an unknown message: ${JSON.stringify(m).slice(0, 200)}`);
      return;
    }
    switch (m.type) {
      case 'ready':
        await this.load(this.dirs);
        break;
      case 'compare/open-recipe-diff': {
        const [a, b] = m.runIds.map((id) => this.records.find((r) => r.id === id));
        if (a && b) await openRecipeDiff(a, b);
        break;
      }
      case 'compare/reveal-run': {
        const i = this.records.findIndex((r) => r.id === m.runId);
        if (i >= 0) await vscode.commands.executeCommand('qrecipe.openRun', this.dirs[i]);
        break;
      }
      case 'log':
        this.ctx.output[m.level === 'error' ? 'error' : m.level === 'warning' ? 'warn' : 'info'](`compare view: ${m.message}`);
        break;
      default:
        break;
    }
  }
}

/** Shows the two recipes as the runs saw them (from run.json, not today's file) in the diff editor. */
async function openRecipeDiff(a: RunRecord, b: RunRecord): Promise<void> {
  const left = await vscode.workspace.openTextDocument({ content: a.recipeText, language: 'qrecipe' });
  const right = await vscode.workspace.openTextDocument({ content: b.recipeText, language: 'qrecipe' });
  await vscode.commands.executeCommand('vscode.diff', left.uri, right.uri, `${a.id} ↔ ${b.id} (recipes)`);
}
