// Extension entry: activation wires the pieces together and hands every disposable to the context,
// so deactivation releases them all in one place.
import * as vscode from 'vscode';
import path from 'node:path';
import { statSync } from 'node:fs';
import { Ctx } from './ctx';
import { startLanguageClient } from './client';
import { registerCommands } from './commands';
import { RunManager } from './runs/run-manager';
import { RunIndex } from './runs/run-index';
import { RunsTree } from './runs/runs-tree';
import { runPage } from './runs/run-page';
import { ModelsTree } from './models/models-tree';
import { inspectText, openPendingQuickstart } from './models/model-commands';
import { RecipeCodeLens } from './codelens';
import { QRecipeTaskProvider } from './tasks';
import { ComparePanel } from './panels/compare';
import { registerSensitivityPanel } from './panels/sensitivity';
import { ReadOnlyDocuments, SCHEME } from './views/read-only';
import { runLabels } from '../../language-server/core/runs/labels';

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<QRecipeApi> {
  const c = new Ctx(context);
  ctx = c;
  c.log(`QRecipe ${context.extension.packageJSON.version} activating (VS Code ${vscode.version}, ${process.platform}-${process.arch}, Node ${process.version}, trusted: ${vscode.workspace.isTrusted})`);
  const index = new RunIndex();
  const runs = new RunManager(c, index);
  const runsTree = new RunsTree(runs, index);
  const modelsTree = new ModelsTree(c);
  c.push(runs, runsTree, modelsTree);
  const runsView = vscode.window.createTreeView('qrecipe.runs', { treeDataProvider: runsTree, canSelectMany: true, showCollapseAll: true });
  const modelsView = vscode.window.createTreeView('qrecipe.models', { treeDataProvider: modelsTree, showCollapseAll: true });
  c.push(runsView, modelsView);
  const docs = new ReadOnlyDocuments(async (kind, target) => {
    if (kind === 'inspect') return inspectText(c, target);
    const e = await index.entry(target);
    if (!e) throw new Error(`${target} is not a run folder (any more)`);
    if (kind === 'recipe') return e.record.recipeText;
    const siblings = (await runsTree.allRuns()).filter((x) => x.record.recipePath === e.record.recipePath).map((x) => x.record);
    return runPage(e.record, e.dir, runLabels(siblings).get(e.record.id) ?? e.record.id, (f) => {
      try { const st = statSync(f); return { size: st.size, mtimeMs: st.mtimeMs }; } catch { return undefined; }
    });
  });
  c.push(docs, vscode.workspace.registerTextDocumentContentProvider(SCHEME, docs));
  // an open run page follows its run
  c.push(runs.onDidChange((ch) => { if (ch.structural) for (const r of [...runs.runs]) if (r.runDir) docs.refresh(r.runDir); }));
  c.push(vscode.workspace.createFileSystemWatcher('**/run.json').onDidChange((u) => docs.refresh(path.dirname(u.fsPath))));
  c.push(vscode.languages.registerCodeLensProvider({ language: 'qrecipe', scheme: 'file' }, new RecipeCodeLens()));
  c.push(vscode.tasks.registerTaskProvider(QRecipeTaskProvider.type, new QRecipeTaskProvider(c)));
  c.push(vscode.workspace.onDidGrantWorkspaceTrust(() => c.log('workspace trusted: running recipes is allowed')));
  registerCommands(c, { runs, runsTree });
  ComparePanel.register(c);
  registerSensitivityPanel(c);
  void vscode.commands.executeCommand('setContext', 'qrecipe.runActive', false);
  try {
    c.setClient(await startLanguageClient(c));
    c.log('language server started');
  } catch (err) {
    c.setClient(undefined);
    // The trees, commands and runs keep working without the server; the user sees why it is off.
    c.output.error(`the language server could not start: ${String(err)}`);
    void vscode.window.showErrorMessage('QRecipe: the language server could not start; see the QRecipe output.', 'Show Output').then((p) => p && ctx?.output.show());
  }
  void openPendingQuickstart(c);
  return { ctx: c, runs, runsTree, modelsTree };
}

export async function deactivate(): Promise<void> {
  await ctx?.dispose();
  ctx = undefined;
}

/** What `activate` returns; extension-host tests reach the running pieces through it. */
export interface QRecipeApi {
  ctx: Ctx;
  runs: RunManager;
  runsTree: RunsTree;
  modelsTree: ModelsTree;
}
