// Command handlers, all registered here so package.json and the code agree on the ids.
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from './ctx';
import { runCli } from './cli';
import { runsFolder, workspaceFolderOf } from './config';
import type { RunsNode, RunsTree } from './runs/runs-tree';
import type { RunManager } from './runs/run-manager';
import { deleteRun, readRun } from '../../language-server/core/runs/store';
import type { RunRecord } from '../../language-server/core/protocol/runner';
import { ComparePanel } from './panels/compare';
import { scaffoldRecipe } from './scaffold';

export interface Services {
  runs: RunManager;
  runsTree: RunsTree;
}

type RunRef = { dir: string; record: RunRecord };

export function registerCommands(ctx: Ctx, s: Services): void {
  const add = (id: string, handler: (...args: never[]) => unknown) =>
    ctx.push(vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown));

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

  add('qrecipe.runRecipe', async (uri?: vscode.Uri) => {
    const recipe = uri ?? (await pickRecipe());
    if (recipe) await s.runs.run(recipe);
  });
  add('qrecipe.checkRecipe', async (uri?: vscode.Uri) => {
    const recipe = uri ?? (await pickRecipe());
    if (!recipe) return;
    const r = await runCli(ctx, ['check', recipe.fsPath], { cwd: path.dirname(recipe.fsPath) });
    const problems = r.stdout.split('\n').filter((l) => /: (error|warning) /.test(l));
    if (r.code === 0 && !problems.length) void vscode.window.showInformationMessage(`QRecipe: ${path.basename(recipe.fsPath)} has no problems.`);
    else {
      ctx.output.info(r.stdout + r.stderr);
      void vscode.window.showWarningMessage(`QRecipe: ${path.basename(recipe.fsPath)}: ${problems.length} problem(s).`, 'Show Problems').then((p) => p && vscode.commands.executeCommand('workbench.actions.view.problems'));
    }
  });
  add('qrecipe.cancelRun', () => {
    const n = s.runs.cancelAll();
    if (!n) void vscode.window.showInformationMessage('QRecipe: no run is in progress.');
  });
  add('qrecipe.refreshRuns', () => s.runsTree.refresh());
  add('qrecipe.openRun', async (arg?: string | RunsNode) => {
    const dir = typeof arg === 'string' ? arg : arg?.kind === 'run' ? arg.dir : (await pickRuns(s, 'Open which run?'))?.[0]?.dir;
    if (dir) await vscode.window.showTextDocument(vscode.Uri.file(path.join(dir, 'run.json')), { preview: true });
  });
  add('qrecipe.openRunLog', async (node?: RunsNode) => {
    const dir = node?.kind === 'run' ? node.dir : (await pickRuns(s, 'Show the log of which run?'))?.[0]?.dir;
    if (dir) await vscode.window.showTextDocument(vscode.Uri.file(path.join(dir, 'run.log')), { preview: true });
  });
  add('qrecipe.compareRuns', async (node?: RunsNode, selected?: RunsNode[]) => {
    let runs: RunRef[] | undefined = (selected ?? []).filter((n): n is Extract<RunsNode, { kind: 'run' }> => n.kind === 'run');
    if (!runs || runs.length < 2) runs = await pickRuns(s, 'Pick two or more runs to compare', true, node?.kind === 'run' ? node.dir : undefined);
    if (!runs || runs.length < 2) return;
    ComparePanel.show(ctx, runs);
  });
  add('qrecipe.compareWith', async (node?: RunsNode) => {
    if (node?.kind !== 'run') {
      await vscode.commands.executeCommand('qrecipe.compareRuns');
      return;
    }
    const other = await pickRuns(s, `Compare ${node.record.id} with…`, false, undefined, node.dir);
    if (other?.length) ComparePanel.show(ctx, [{ dir: node.dir, record: node.record }, other[0]]);
  });
  add('qrecipe.rerun', async (node?: RunsNode) => {
    const recipe = node?.kind === 'run' ? node.record.recipePath : node?.kind === 'recipe' ? node.recipe : undefined;
    if (recipe) await s.runs.run(vscode.Uri.file(recipe));
  });
  add('qrecipe.revealArtifacts', async (node?: RunsNode) => {
    if (node?.kind !== 'run') return;
    const uri = vscode.Uri.file(node.dir);
    if (vscode.env.uiKind === vscode.UIKind.Desktop) await vscode.commands.executeCommand('revealFileInOS', uri);
    else await vscode.commands.executeCommand('revealInExplorer', uri);
  });
  add('qrecipe.deleteRun', async (node?: RunsNode) => {
    if (node?.kind !== 'run') return;
    if (s.runs.liveByDir(node.dir)) return void vscode.window.showWarningMessage('QRecipe: cancel the run before deleting it.');
    const pick = await vscode.window.showWarningMessage(`Delete run ${node.record.id} and all its artifacts?`, { modal: true, detail: node.dir }, 'Delete');
    if (pick !== 'Delete') return;
    await deleteRun(node.dir);
    s.runsTree.refresh();
  });
  add('qrecipe.exportModel', async (node?: RunsNode) => exportModel(ctx, s, node));
  add('qrecipe.inspectModel', async (uri?: vscode.Uri) => {
    const model = uri ?? (await pickModel('Inspect which model?'));
    if (!model) return;
    const r = await runCli(ctx, ['inspect', model.fsPath]);
    if (r.code !== 0) return void vscode.window.showErrorMessage(`QRecipe: cannot inspect ${path.basename(model.fsPath)}: ${r.stderr.trim() || r.stdout.trim()}`);
    const doc = await vscode.workspace.openTextDocument({ content: r.stdout, language: 'plaintext' });
    await vscode.window.showTextDocument(doc, { preview: true });
  });
  add('qrecipe.newRecipeFromModel', async (uri?: vscode.Uri) => {
    const model = uri ?? (await pickModel('Make a recipe for which model?'));
    if (!model) return;
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(model.fsPath.replace(/\.onnx$/, '.qrecipe')),
      filters: { 'QRecipe recipes': ['qrecipe'] },
      title: 'Save the new recipe as',
    });
    if (!target) return;
    const text = await scaffoldRecipe(model.fsPath, target.fsPath);
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
    await vscode.window.showTextDocument(target);
  });
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
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

async function pickRecipe(): Promise<vscode.Uri | undefined> {
  const active = vscode.window.activeTextEditor?.document;
  if (active?.languageId === 'qrecipe') return active.uri;
  // no recipe is the active editor (focus in a webview, or the editor state not yet synced to the
  // extension host just after opening): the one recipe on screen, if there is exactly one
  const shown = vscode.window.visibleTextEditors.map((e) => e.document).filter((d) => d.languageId === 'qrecipe');
  if (new Set(shown.map((d) => d.uri.toString())).size === 1) return shown[0].uri;
  const files = await vscode.workspace.findFiles('**/*.qrecipe', '{**/node_modules/**,**/.qrecipe/**}', 200);
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })), { title: 'Which recipe?' });
  return pick?.uri;
}

async function pickModel(title: string): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.onnx', '{**/node_modules/**,**/.qrecipe/**,**/.tools/**}', 200);
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })), { title });
  return pick?.uri;
}

async function pickRuns(s: Services, title: string, many = false, preselect?: string, exclude?: string): Promise<RunRef[] | undefined> {
  const all = (await s.runsTree.allRuns()).filter((r) => r.dir !== exclude);
  if (!all.length) {
    void vscode.window.showInformationMessage('QRecipe: there are no runs yet. Run a recipe first.');
    return undefined;
  }
  const items = all.map((r) => ({ label: r.record.id, description: r.record.status, detail: path.basename(r.record.recipePath), picked: r.dir === preselect, run: r }));
  if (many) return (await vscode.window.showQuickPick(items, { title, canPickMany: true }))?.map((i) => i.run);
  const one = await vscode.window.showQuickPick(items, { title });
  return one ? [one.run] : undefined;
}

const formats = [
  { label: 'onnx-matmulnbits', description: 'MatMulNBits for quantised MatMul/Gemm, int8 QDQ for Conv; smallest file' },
  { label: 'onnx-qdq', description: 'int8 QuantizeLinear/DequantizeLinear pairs for every quantised layer' },
  { label: 'onnx-fakequant', description: 'float weights holding the quantised values (for checking)' },
];

async function exportModel(ctx: Ctx, s: Services, node?: RunsNode): Promise<void> {
  const run = node?.kind === 'run' ? { dir: node.dir, record: node.record } : (await pickRuns(s, 'Export which run?'))?.[0];
  if (!run) return;
  const record = await readRun(run.dir);
  if (record.status !== 'succeeded') return void vscode.window.showWarningMessage(`QRecipe: run ${record.id} is ${record.status}; only a finished run can be exported.`);
  const format = await vscode.window.showQuickPick(formats, { title: 'Export format' });
  if (!format) return;
  const ws = workspaceFolderOf(vscode.Uri.file(run.dir)) ?? path.dirname(run.dir);
  const dest = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(path.join(ws, `${path.basename(record.modelPath, '.onnx')}-${record.id}.onnx`)),
    filters: { 'ONNX models': ['onnx'] },
    title: 'Export the compressed model to',
  });
  if (!dest) return;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `QRecipe: exporting ${record.id}`, cancellable: true }, (progress, token) =>
    // the save dialog is the user's consent to the place and to replacing a file; inputs and the run store stay refused
    runCli(ctx, ['export', run.dir, '--format', format.label, '-o', dest.fsPath, '--runs', runsFolder(ws), '--workspace', ws, '--allow-outside', '--force'], { token, onLine: (l) => progress.report({ message: l.slice(0, 120) }) }));
  if (result.code !== 0) {
    ctx.output.error(`export failed:\n${result.stdout}${result.stderr}`);
    return void vscode.window.showErrorMessage(`QRecipe: export failed: ${(result.stderr || result.stdout).trim().split('\n').pop()}`, 'Show Output').then((p) => p && ctx.output.show());
  }
  ctx.log(`exported ${record.id} as ${format.label} to ${dest.fsPath}\n${result.stdout}`);
  s.runsTree.refresh();
  const pick = await vscode.window.showInformationMessage(`QRecipe: exported to ${path.basename(dest.fsPath)}.`, 'Reveal');
  if (pick) await vscode.commands.executeCommand(vscode.env.uiKind === vscode.UIKind.Desktop ? 'revealFileInOS' : 'revealInExplorer', dest);
}
