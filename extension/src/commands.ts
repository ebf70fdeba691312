// Command handlers, one factory per command, all registered here so package.json and the code agree.
import * as vscode from 'vscode';
import type { Ctx } from './ctx';

export function registerCommands(ctx: Ctx): void {
  const add = (id: string, handler: (...args: unknown[]) => unknown) =>
    ctx.push(vscode.commands.registerCommand(id, handler));

  add('qrecipe.showOutput', () => ctx.output.show());
  add('qrecipe.restartServer', async () => {
    await ctx.client?.restart();
    ctx.log('language server restarted');
  });
  add('qrecipe.openQuickstart', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const inWorkspace = folder && vscode.Uri.joinPath(folder, 'examples', 'quickstart.qrecipe');
    const uri = inWorkspace && (await exists(inWorkspace)) ? inWorkspace : vscode.Uri.file(ctx.asset('examples/quickstart.qrecipe'));
    await vscode.window.showTextDocument(uri);
  });
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
