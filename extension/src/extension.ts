// Extension entry: activation wires the pieces together and hands every disposable to the context,
// so deactivation releases them all in one place.
import * as vscode from 'vscode';
import { Ctx } from './ctx';
import { startLanguageClient } from './client';
import { registerCommands } from './commands';

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<QRecipeApi> {
  ctx = new Ctx(context);
  ctx.log(`QRecipe ${context.extension.packageJSON.version} activating (VS Code ${vscode.version}, ${process.platform}-${process.arch}, Node ${process.version})`);
  registerCommands(ctx);
  ctx.client = await startLanguageClient(ctx);
  ctx.log('language server started');
  return { ctx };
}

export async function deactivate(): Promise<void> {
  await ctx?.dispose();
  ctx = undefined;
}

/** What `activate` returns; extension-host tests reach the running pieces through it. */
export interface QRecipeApi {
  ctx: Ctx;
}
