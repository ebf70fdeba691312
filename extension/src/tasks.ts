// Task provider of type `qrecipe`: `{ "type": "qrecipe", "recipe": "examples/quickstart.qrecipe",
// "command": "run" | "check" }` runs the CLI in a terminal; the `$qrecipe` problem matcher (declared
// in package.json) turns its `file:line:col: severity CODE: message` lines into problems (`check`
// prints them on stdout, `run` on stderr; test/runner/cli/protocol.test.ts matches both).
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from './ctx';
import { config, runnerEnv } from './config';

export interface QRecipeTaskDefinition extends vscode.TaskDefinition {
  type: 'qrecipe';
  recipe: string;
  command?: 'run' | 'check';
  device?: 'auto' | 'cpu' | 'cuda';
  /** run: replace files already at the recipe's export paths (`--force`). */
  force?: boolean;
}

export class QRecipeTaskProvider implements vscode.TaskProvider {
  static readonly type = 'qrecipe';
  constructor(private readonly ctx: Ctx) {}

  async provideTasks(): Promise<vscode.Task[]> {
    const recipes = await vscode.workspace.findFiles('**/*.qrecipe', '{**/node_modules/**,**/.qrecipe/**}', 100);
    const tasks: vscode.Task[] = [];
    for (const uri of recipes) {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      if (!folder) continue;
      const rel = path.relative(folder.uri.fsPath, uri.fsPath);
      for (const command of ['run', 'check'] as const) tasks.push(this.make({ type: 'qrecipe', recipe: rel, command }, folder));
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as QRecipeTaskDefinition;
    if (!def.recipe) return undefined;
    const folder = typeof task.scope === 'object' ? task.scope : vscode.workspace.workspaceFolders?.[0];
    return folder ? this.make(def, folder, task) : undefined;
  }

  private make(def: QRecipeTaskDefinition, folder: vscode.WorkspaceFolder, original?: vscode.Task): vscode.Task {
    const command = def.command ?? 'run';
    const args = [this.ctx.asset('dist/cli.js'), command, def.recipe];
    if (command === 'run') args.push('--device', def.device ?? config().device, ...(def.force ? ['--force'] : []));
    const exec = new vscode.ProcessExecution(process.execPath, args, { cwd: folder.uri.fsPath, env: { ELECTRON_RUN_AS_NODE: '1', ...runnerEnv() } });
    const task = new vscode.Task(original?.definition ?? def, folder, original?.name ?? `${command} ${def.recipe}`, 'qrecipe', exec, ['$qrecipe']);
    task.group = command === 'run' ? vscode.TaskGroup.Build : vscode.TaskGroup.Test;
    task.detail = command === 'run' ? 'Compress the model as the recipe says' : 'Check the recipe against its model';
    return task;
  }
}
