// Command handlers, all registered here (or by the modules named below) so package.json and the code
// agree on the ids (test/unit/extension/manifest.test.ts checks that every contributed command is
// registered by name in the source).
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from './ctx';
import { runCli } from './cli';
import { request } from './lsp';
import { resolvedRecipe } from '../../language-server/core/protocol/lsp';
import { registerRunCommands, type RunServices } from './runs/run-commands';
import { EXCLUDE, inspectModel, newRecipeFromModel, tryQuickstart } from './models/model-commands';

export type Services = RunServices;

export function registerCommands(ctx: Ctx, s: Services): void {
  const add = (id: string, handler: (...args: never[]) => unknown): void => {
    ctx.push(vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown));
  };

  add('qrecipe.showOutput', () => ctx.output.show());
  add('qrecipe.restartServer', async () => {
    await ctx.client?.restart();
    ctx.log('language server restarted');
  });
  add('qrecipe.tryQuickstart', () => tryQuickstart(ctx));
  add('qrecipe.runRecipe', async (uri?: vscode.Uri) => {
    const recipe = uri ?? (await pickRecipe());
    if (recipe && recipe.scheme !== 'file') return void vscode.window.showWarningMessage('QRecipe: this is a read-only copy of a recipe as a run saw it; open the recipe file to run it.');
    if (recipe) await s.runs.run(recipe);
  });
  add('qrecipe.checkRecipe', async (uri?: vscode.Uri) => checkRecipe(ctx, uri ?? (await pickRecipe())));
  add('qrecipe.inspectModel', (uri?: vscode.Uri) => inspectModel(uri));
  add('qrecipe.newRecipeFromModel', (uri?: vscode.Uri) => newRecipeFromModel(ctx, uri));
  add('qrecipe.importLlmc', async (uri?: vscode.Uri) => {
    const yaml = uri ?? (await vscode.window.showOpenDialog({ filters: { 'llm-compressor recipes': ['yaml', 'yml'] }, title: 'Import an llm-compressor recipe' }))?.[0];
    if (!yaml) return;
    const out = yaml.fsPath.replace(/\.ya?ml$/, '') + '.qrecipe';
    const r = await runCli(ctx, ['import-llmc', yaml.fsPath, '-o', out]);
    if (r.code !== 0 && r.code !== 1) return void vscode.window.showErrorMessage(`QRecipe: import failed: ${r.stderr.trim() || r.stdout.trim()}`);
    if (r.stdout.trim() || r.stderr.trim()) ctx.output.info(`import-llmc ${yaml.fsPath}:\n${r.stdout}${r.stderr}`);
    await vscode.window.showTextDocument(vscode.Uri.file(out));
    if (r.code === 1) void vscode.window.showWarningMessage('QRecipe: parts of the llm-compressor recipe have no equivalent; see the output channel.', 'Show Output').then((p) => p && ctx.output.show());
  });
  registerRunCommands(ctx, s);
}

/** Check Recipe: the language server's own verdict on the recipe (the same analysis as its diagnostics). */
async function checkRecipe(ctx: Ctx, recipe: vscode.Uri | undefined): Promise<void> {
  if (!recipe) return;
  // Opening the document hands it to the language server, which publishes its diagnostics.
  const doc = await vscode.workspace.openTextDocument(recipe);
  const r = await request(ctx, resolvedRecipe, { uri: doc.uri.toString() });
  const name = path.basename(recipe.fsPath);
  if (!r) return void vscode.window.showErrorMessage(`QRecipe: ${name} could not be checked; see the QRecipe output.`);
  if (!r.errors && !r.warnings) return void vscode.window.showInformationMessage(`QRecipe: ${name} has no problems${r.recipe.model ? '; it is ready to run' : ''}.`);
  const what = [r.errors ? `${r.errors} error${r.errors === 1 ? '' : 's'}` : '', r.warnings ? `${r.warnings} warning${r.warnings === 1 ? '' : 's'}` : ''].filter(Boolean).join(' and ');
  const show = r.errors ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
  const pick = await show(`QRecipe: ${name} has ${what}${r.errors ? '; it cannot run until they are fixed' : ''}.`, 'Show Problems');
  if (pick) await vscode.commands.executeCommand('workbench.actions.view.problems');
}

async function pickRecipe(): Promise<vscode.Uri | undefined> {
  const active = vscode.window.activeTextEditor?.document;
  if (active?.languageId === 'qrecipe' && active.uri.scheme === 'file') return active.uri;
  // no recipe is the active editor (focus in a webview, or the editor state not yet synced to the
  // extension host just after opening): the one recipe on screen, if there is exactly one
  const shown = vscode.window.visibleTextEditors.map((e) => e.document).filter((d) => d.languageId === 'qrecipe' && d.uri.scheme === 'file');
  if (new Set(shown.map((d) => d.uri.toString())).size === 1) return shown[0]!.uri;
  const files = await vscode.workspace.findFiles('**/*.qrecipe', EXCLUDE, 200);
  if (!files.length) {
    void vscode.window.showInformationMessage('QRecipe: there is no .qrecipe file in this workspace yet.', 'Try the Quickstart', 'New Recipe from Model')
      .then((p) => p && vscode.commands.executeCommand(p === 'Try the Quickstart' ? 'qrecipe.tryQuickstart' : 'qrecipe.newRecipeFromModel'));
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })), { title: 'Which recipe?' });
  return pick?.uri;
}
