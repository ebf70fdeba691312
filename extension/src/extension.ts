// Extension entry: activation wires the pieces together and hands every disposable to the context,
// so deactivation releases them all in one place.
import * as vscode from 'vscode';
import { Ctx } from './ctx';
import { startLanguageClient } from './client';
import { registerCommands } from './commands';
import { RunManager } from './runs/run-manager';
import { RunsTree } from './runs/runs-tree';
import { ModelsTree } from './models/models-tree';
import { RecipeCodeLens } from './codelens';
import { QRecipeTaskProvider } from './tasks';
import { ComparePanel } from './panels/compare';
import { registerSensitivityPanel } from './panels/sensitivity';

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<QRecipeApi> {
  ctx = new Ctx(context);
  ctx.log(`QRecipe ${context.extension.packageJSON.version} activating (VS Code ${vscode.version}, ${process.platform}-${process.arch}, Node ${process.version}, trusted: ${vscode.workspace.isTrusted})`);
  const runs = new RunManager(ctx);
  const runsTree = new RunsTree(runs);
  const modelsTree = new ModelsTree();
  ctx.push(runs, runsTree, modelsTree);
  const runsView = vscode.window.createTreeView('qrecipe.runs', { treeDataProvider: runsTree, canSelectMany: true, showCollapseAll: true });
  const modelsView = vscode.window.createTreeView('qrecipe.models', { treeDataProvider: modelsTree, showCollapseAll: true });
  ctx.push(runsView, modelsView);
  ctx.push(vscode.languages.registerCodeLensProvider({ language: 'qrecipe' }, new RecipeCodeLens()));
  ctx.push(vscode.tasks.registerTaskProvider(QRecipeTaskProvider.type, new QRecipeTaskProvider(ctx)));
  ctx.push(vscode.workspace.onDidGrantWorkspaceTrust(() => ctx?.log('workspace trusted: running recipes is allowed')));
  registerCommands(ctx, { runs, runsTree });
  ComparePanel.register(ctx);
  registerSensitivityPanel(ctx);
  try {
    ctx.client = await startLanguageClient(ctx);
    ctx.log('language server started');
  } catch (err) {
    // The trees, commands and runs keep working without the server; the user sees why it is off.
    ctx.output.error(`the language server could not start: ${String(err)}`);
    void vscode.window.showErrorMessage('QRecipe: the language server could not start; see the QRecipe output.', 'Show Output').then((p) => p && ctx?.output.show());
  }
  return { ctx, runs, runsTree, modelsTree };
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
