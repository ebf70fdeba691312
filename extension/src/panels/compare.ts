// The Compare panel: two or more runs side by side (metrics with changes against the original model,
// a size-vs-quality scatter with its Pareto front, per-layer bits/sparsity), and the recipe diff in
// VS Code's diff editor between read-only copies of the recipes as the runs saw them. Survives
// reloads through the shared panel serializer keyed on run folders.
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { PanelHost, type PanelSpec } from './panel-host';
import { readRun } from '../../../language-server/core/runs/store';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import type { FromWebview } from '../../../webviews/protocol';
import { compareData } from './compare-data';
import { readOnlyUri } from '../views/read-only';
import { runLabels } from '../../../language-server/core/runs/labels';

export const COMPARE: PanelSpec = { viewType: 'qrecipe.compare', script: 'compare.js', name: 'compare view' };

/** What the webview keeps with setState and the serializer gets back after a reload. */
interface CompareState {
  runDirs: string[];
}

export class ComparePanel extends PanelHost {
  private static current: ComparePanel | undefined;
  private records: RunRecord[] = [];

  static show(ctx: Ctx, dirs: string[]): void {
    if (ComparePanel.current) {
      ComparePanel.current.panel.reveal();
      void ComparePanel.current.load(dirs);
      return;
    }
    ComparePanel.current = new ComparePanel(ctx, PanelHost.create(ctx, COMPARE, 'QRecipe: Compare Runs', vscode.ViewColumn.Active), dirs);
  }

  static register(ctx: Ctx): void {
    PanelHost.registerSerializer(ctx, COMPARE, (panel, state) => {
      const dirs = (state as Partial<CompareState> | undefined)?.runDirs;
      ComparePanel.current = new ComparePanel(ctx, panel, Array.isArray(dirs) ? dirs.filter((d): d is string => typeof d === 'string') : []);
    });
  }

  private constructor(ctx: Ctx, panel: vscode.WebviewPanel, private dirs: string[]) {
    super(ctx, panel, COMPARE, 'Compare runs', { runDirs: dirs } satisfies CompareState);
  }

  protected onDispose(): void {
    if (ComparePanel.current === this) ComparePanel.current = undefined;
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

  protected async handle(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        await this.load(this.dirs);
        break;
      case 'compare/open-recipe-diff': {
        const [a, b] = m.runIds.map((id) => this.records.findIndex((r) => r.id === id));
        if (a !== undefined && b !== undefined && a >= 0 && b >= 0) {
          const labels = runLabels(this.records, { withRecipe: new Set(this.records.map((r) => r.recipePath)).size > 1 });
          await openRecipeDiff(this.records[a]!, this.dirs[a]!, this.records[b]!, this.dirs[b]!, (r) => labels.get(r.id) ?? r.id);
        }
        break;
      }
      case 'compare/reveal-run': {
        const i = this.records.findIndex((r) => r.id === m.runId);
        if (i >= 0) await vscode.commands.executeCommand('qrecipe.openRun', this.dirs[i]);
        break;
      }
      default:
        break;
    }
  }
}

/** The two recipes as the runs saw them (from run.json, not today's file), read-only, in the diff editor. */
async function openRecipeDiff(a: RunRecord, aDir: string, b: RunRecord, bDir: string, label: (r: RunRecord) => string): Promise<void> {
  const name = (r: RunRecord): string => `${path.basename(r.recipePath, '.qrecipe')} (${r.id}).qrecipe`;
  await vscode.commands.executeCommand('vscode.diff', readOnlyUri('recipe', name(a), aDir), readOnlyUri('recipe', name(b), bDir), `${label(a)} ↔ ${label(b)} (recipes as run)`);
}
