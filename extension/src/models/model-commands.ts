// Commands on models: Inspect Model (a read-only document from the language server's summary: float
// and quantised layers, provenance), New Recipe from Model (the server scaffolds it; a language
// model's data sets point at text files of the workspace the user picks), and Try the Quickstart
// (`qrecipe init`: the bundled tiny model with its data, or a recipe for a model already there).
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { runCli } from '../cli';
import { request } from '../lsp';
import { modelSummary, scaffoldRecipe } from '../../../language-server/core/protocol/lsp';
import { formatModelSummary } from '../../../language-server/core/model/summary';
import { readOnlyUri } from '../views/read-only';

/** Folders never searched for models or data (dependencies, run stores, tools). */
export const EXCLUDE = '{**/node_modules/**,**/.qrecipe/**,**/.tools/**,**/.git/**}';

export async function pickModel(title: string): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.onnx', EXCLUDE, 200);
  if (!files.length) {
    void vscode.window.showInformationMessage('QRecipe: there is no .onnx model in this workspace. Add one, or run QRecipe: Try the Quickstart.', 'Try the Quickstart')
      .then((p) => p && vscode.commands.executeCommand('qrecipe.tryQuickstart'));
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })), { title });
  return pick?.uri;
}

/** The Inspect Model document's text, from the server's summary of the file. */
export async function inspectText(ctx: Ctx, model: string): Promise<string> {
  const r = await request(ctx, modelSummary, { path: model });
  if ('error' in r) throw new Error(r.error);
  return formatModelSummary(r.summary);
}

export async function inspectModel(uri?: vscode.Uri): Promise<void> {
  const model = uri ?? (await pickModel('Inspect which model?'));
  if (!model) return;
  const doc = await vscode.workspace.openTextDocument(readOnlyUri('inspect', `Inspect ${path.basename(model.fsPath)}`, model.fsPath));
  await vscode.window.showTextDocument(doc, { preview: true });
}

/** Asks which text files a language model calibrates and evaluates on (relative to the recipe); undefined = cancelled. */
async function pickTextData(recipe: string): Promise<{ calib?: string; heldout?: string } | undefined> {
  const files = (await vscode.workspace.findFiles('**/*.{txt,text,md,jsonl}', EXCLUDE, 500)).filter((f) => !/(^|[\\/])(LICENSE|CHANGELOG|README)[^\\/]*$/i.test(f.fsPath));
  if (!files.length) return {};
  const rel = (f: vscode.Uri): string => path.relative(path.dirname(recipe), f.fsPath).split(path.sep).join('/');
  const none = { label: '$(circle-slash) None: write placeholders', description: 'calib.txt and heldout.txt, to create yourself', uri: undefined };
  const items = files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f as vscode.Uri | undefined }));
  const calib = await vscode.window.showQuickPick([...items, none], { title: 'Calibrate on which text? (a language model quantises best on text like its own)' });
  if (!calib) return undefined;
  if (!calib.uri) return {};
  const same = { label: '$(arrow-up) The same file', description: 'better: a different file than the calibration text', uri: calib.uri };
  const heldout = await vscode.window.showQuickPick([same, ...items.filter((i) => i.uri?.fsPath !== calib.uri!.fsPath)], { title: 'Evaluate perplexity on which text?' });
  if (!heldout) return undefined;
  return { calib: rel(calib.uri), heldout: rel(heldout.uri!) };
}

export async function newRecipeFromModel(ctx: Ctx, uri?: vscode.Uri, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const model = uri ?? (await pickModel('Make a recipe for which model?'));
  if (!model) return undefined;
  const dest = target ?? await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(model.fsPath.replace(/\.onnx$/, '.qrecipe')),
    filters: { 'QRecipe recipes': ['qrecipe'] },
    title: 'Save the new recipe as',
  });
  if (!dest) return undefined;
  const summary = await request(ctx, modelSummary, { path: model.fsPath });
  if ('error' in summary) return void vscode.window.showErrorMessage(`QRecipe: cannot read ${path.basename(model.fsPath)}: ${summary.error}`);
  if (summary.summary.quantized.length && !summary.summary.layers.some((l) => l.op !== 'Gather')) {
    void vscode.window.showWarningMessage(`QRecipe: ${path.basename(model.fsPath)} is already quantised (${summary.summary.quantized.length} layers); make a recipe for its source model instead.`);
    return undefined;
  }
  const tokens = summary.summary.layers.some((l) => l.op === 'Gather');
  const data = tokens ? await pickTextData(dest.fsPath) : {};
  if (!data) return undefined;
  const r = await request(ctx, scaffoldRecipe, { model: model.fsPath, recipe: dest.fsPath, data });
  if ('error' in r) return void vscode.window.showErrorMessage(`QRecipe: cannot write a recipe for ${path.basename(model.fsPath)}: ${r.error}`);
  await vscode.workspace.fs.writeFile(dest, new TextEncoder().encode(r.text));
  await vscode.window.showTextDocument(dest, { preview: false });
  if (tokens && !data.calib) void vscode.window.showInformationMessage('QRecipe: the recipe names calib.txt and heldout.txt: put some of your own text in them (it checks once they exist).');
  return dest;
}

/** State key: a recipe to open once the folder the quickstart was copied into has opened. */
const OPEN_ON_START = 'qrecipe.openOnStart';

export async function openPendingQuickstart(ctx: Ctx): Promise<void> {
  const pending = ctx.extension.globalState.get<string>(OPEN_ON_START);
  if (!pending) return;
  await ctx.extension.globalState.update(OPEN_ON_START, undefined);
  const folder = vscode.workspace.workspaceFolders?.find((f) => pending.startsWith(f.uri.fsPath + path.sep));
  if (folder) await vscode.window.showTextDocument(vscode.Uri.file(pending), { preview: false });
}

/** Copies the bundled quickstart into `dir` with `qrecipe init`; returns the recipe. */
async function initQuickstart(ctx: Ctx, dir: string): Promise<vscode.Uri | undefined> {
  const r = await runCli(ctx, ['init', dir, '--json']);
  if (r.code !== 0) {
    void vscode.window.showErrorMessage(`QRecipe: could not copy the quickstart: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    return undefined;
  }
  return vscode.Uri.file((JSON.parse(r.stdout) as { recipe: string }).recipe);
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

export async function tryQuickstart(ctx: Ctx): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  if (!folder) {
    const pick = await vscode.window.showInformationMessage('The quickstart copies a small language model (7 MB) and a recipe that quantises it into a folder of yours.', { modal: true }, 'Choose a Folder…');
    if (!pick) return;
    const chosen = (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Copy the quickstart into which folder?', openLabel: 'Use this folder' }))?.[0];
    if (!chosen) return;
    const recipe = await initQuickstart(ctx, path.join(chosen.fsPath, 'qrecipe-quickstart'));
    if (!recipe) return;
    await ctx.extension.globalState.update(OPEN_ON_START, recipe.fsPath);
    await vscode.commands.executeCommand('vscode.openFolder', chosen);
    return;
  }
  const existing = vscode.Uri.joinPath(folder, 'qrecipe-quickstart', 'quickstart.qrecipe');
  const models = (await vscode.workspace.findFiles('**/*.onnx', EXCLUDE, 50)).filter((m) => !m.fsPath.startsWith(path.join(folder.fsPath, 'qrecipe-quickstart')));
  type Item = vscode.QuickPickItem & { model?: vscode.Uri };
  let choice: Item | undefined = { label: 'bundled' };
  if (models.length) {
    choice = await vscode.window.showQuickPick<Item>([
      { label: '$(beaker) The bundled tiny language model', detail: 'Copies a 7 MB model and its text into qrecipe-quickstart/ and opens a recipe that quantises it to 4 bits (about a minute on a laptop CPU).' },
      ...models.map((m) => ({ label: `$(circuit-board) ${path.basename(m.fsPath)}`, description: vscode.workspace.asRelativePath(m), detail: 'Write a first recipe for this model of yours.', model: m })),
    ], { title: 'Try QRecipe on…' });
    if (!choice) return;
  }
  if (choice.model) {
    await newRecipeFromModel(ctx, choice.model);
    return;
  }
  const recipe = (await exists(existing)) ? existing : await initQuickstart(ctx, path.join(folder.fsPath, 'qrecipe-quickstart'));
  if (!recipe) return;
  await vscode.window.showTextDocument(recipe, { preview: false });
  void vscode.window.showInformationMessage('QRecipe: this recipe quantises the quickstart model to 4 bits. Click "Run" above its first line to run it.');
}
