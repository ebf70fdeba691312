// Commands on runs: open a run's page, its log, compare, export (with a notification that says what
// the file is), cancel (after asking), delete, reveal. Runs are picked by their labels and metrics.
import { requireTrust } from '../trust';
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { runnerEnv, runsFolder, workspaceFolderOf } from '../config';
import type { RunsNode, RunsTree } from './runs-tree';
import type { RunManager } from './run-manager';
import type { RunEntry } from './run-index';
import { deleteRun } from '../../../language-server/core/runs/store';
import type { RunnerEvent } from '../../../language-server/core/protocol/runner';
import { formatSeconds } from '../../../language-server/core/format/numbers';
import { isOwnFormMethod, OWN_FORM_FORMATS } from '../../../language-server/core/cost/formats';
import { RunnerProcess } from './runner-process';
import { runLabels } from '../../../language-server/core/runs/labels';
import { ComparePanel } from '../panels/compare';
import { readOnlyUri } from '../views/read-only';
import { exportMessage, pickerLine } from './summaries';

export interface RunServices {
  runs: RunManager;
  runsTree: RunsTree;
}

type RunArg = string | RunsNode | undefined;

/** The run folder a command was given: a folder path (notifications, panels) or a tree node. */
function dirOf(arg: RunArg): string | undefined {
  return typeof arg === 'string' ? arg : arg?.kind === 'run' ? arg.dir : undefined;
}

/** Runs in a quick pick, labelled by recipe and what differs between runs, with their metrics. */
export async function pickRuns(
  s: RunServices,
  title: string,
  opts: { many?: boolean; preselect?: string[]; exclude?: string; succeededOnly?: boolean } = {},
): Promise<RunEntry[] | undefined> {
  const all = (await s.runsTree.allRuns()).filter((r) => r.dir !== opts.exclude && (!opts.succeededOnly || r.record.status === 'succeeded'));
  if (!all.length) {
    void vscode.window.showInformationMessage(opts.succeededOnly ? 'QRecipe: there is no finished run yet. Run a recipe first.' : 'QRecipe: there are no runs yet. Run a recipe first.');
    return undefined;
  }
  const labels = runLabels(all.map((r) => r.record));
  const items = all.map((r) => ({ ...pickerLine(r.record, labels.get(r.record.id)!), picked: opts.preselect?.includes(r.dir), run: r }));
  if (opts.many) return (await vscode.window.showQuickPick(items, { title, canPickMany: true, matchOnDescription: true, matchOnDetail: true }))?.map((i) => i.run);
  const one = await vscode.window.showQuickPick(items, { title, matchOnDescription: true, matchOnDetail: true });
  return one ? [one.run] : undefined;
}

export function registerRunCommands(ctx: Ctx, s: RunServices): void {
  const add = (id: string, handler: (...args: never[]) => unknown): void => {
    ctx.push(vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown));
  };

  add('qrecipe.openRun', async (arg?: RunArg) => {
    const dir = dirOf(arg) ?? (await pickRuns(s, 'Open which run?'))?.[0]?.dir;
    if (!dir) return;
    const e = await s.runsTree.index.entry(dir);
    const uri = readOnlyUri('run', `${e ? path.basename(e.record.recipePath, '.qrecipe') : 'run'} ${e?.record.id ?? ''}.md`, dir);
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  });
  add('qrecipe.openRunLog', async (arg?: RunArg) => {
    const dir = dirOf(arg) ?? (await pickRuns(s, 'Show the log of which run?'))?.[0]?.dir;
    if (dir) await vscode.window.showTextDocument(vscode.Uri.file(path.join(dir, 'run.log')), { preview: true });
  });
  add('qrecipe.compareRuns', async (node?: RunsNode, selected?: RunsNode[]) => {
    const chosen = (selected ?? []).filter((n): n is Extract<RunsNode, { kind: 'run' }> => n.kind === 'run').map((n) => n.dir);
    const dirs = chosen.length >= 2 ? chosen : (await pickRuns(s, 'Pick two or more runs to compare', { many: true, preselect: [dirOf(node)].filter((d): d is string => !!d) }))?.map((r) => r.dir);
    if (!dirs || dirs.length < 2) return;
    ComparePanel.show(ctx, dirs);
  });
  add('qrecipe.compareWith', async (arg?: RunArg) => {
    const dir = dirOf(arg);
    if (!dir) return void vscode.commands.executeCommand('qrecipe.compareRuns');
    const other = await pickRuns(s, 'Compare with…', { exclude: dir });
    if (other?.length) ComparePanel.show(ctx, [dir, other[0]!.dir]);
  });
  // From a finish notification: this run against the previous finished run of its recipe, if any.
  add('qrecipe.compareWithPrevious', async (arg?: RunArg) => {
    const dir = dirOf(arg);
    if (!dir) return;
    const all = await s.runsTree.allRuns();
    const me = all.find((r) => r.dir === dir);
    const prev = me && all.find((r) => r.dir !== dir && r.record.recipePath === me.record.recipePath && r.record.status === 'succeeded' && r.record.startedAt < me.record.startedAt);
    if (prev) ComparePanel.show(ctx, [prev.dir, dir]);
    else {
      const picked = await pickRuns(s, 'Compare this run with which?', { many: true, preselect: [dir] });
      const dirs = picked?.map((r) => r.dir);
      if (dirs && dirs.length >= 2) ComparePanel.show(ctx, dirs);
      else if (dirs?.length === 1 && dirs[0] !== dir) ComparePanel.show(ctx, [dirs[0]!, dir]);
    }
  });
  add('qrecipe.rerun', async (node?: RunsNode) => {
    // a run is re-run from the recipe it stored (the file may have changed since); a recipe from its file
    if (node?.kind === 'run') await s.runs.run(vscode.Uri.file(node.recipe), { rerunOf: node.dir });
    else if (node?.kind === 'recipe') await s.runs.run(vscode.Uri.file(node.recipe));
  });
  add('qrecipe.revealArtifacts', async (arg?: RunArg) => {
    const dir = dirOf(arg);
    if (dir) await reveal(vscode.Uri.file(dir));
  });
  add('qrecipe.deleteRun', async (node?: RunsNode) => {
    if (node?.kind !== 'run') return;
    if (s.runs.liveByDir(node.dir)) return void vscode.window.showWarningMessage('QRecipe: stop the run before deleting it.');
    const pick = await vscode.window.showWarningMessage(`Delete run ${node.id} and all its artifacts?`, { modal: true, detail: node.dir }, 'Delete');
    if (pick !== 'Delete') return;
    await deleteRun(node.dir);
    s.runsTree.index.forget(node.dir);
    s.runsTree.refresh();
  });
  add('qrecipe.cancelRun', async (node?: RunsNode) => {
    const live = node?.kind === 'run' ? s.runs.runs.filter((r) => r.runId === node.id) : s.runs.runs;
    if (!live.length) return void vscode.window.showInformationMessage('QRecipe: no run is in progress.');
    const names = [...new Set(live.map((r) => path.basename(r.recipe)))].join(', ');
    const pick = await vscode.window.showWarningMessage(`Stop the run of ${names}?`, { modal: true, detail: 'The run is recorded as cancelled; what it wrote so far stays in its run folder.' }, 'Stop Run');
    if (pick === 'Stop Run') s.runs.cancel(live);
  });
  add('qrecipe.refreshRuns', () => s.runsTree.refresh());
  add('qrecipe.exportModel', async (arg?: RunArg) => exportRun(ctx, s, dirOf(arg)));
}

export async function reveal(uri: vscode.Uri): Promise<void> {
  await vscode.commands.executeCommand(vscode.env.uiKind === vscode.UIKind.Desktop ? 'revealFileInOS' : 'revealInExplorer', uri);
}

const formats = [
  { label: 'onnx-matmulnbits', description: 'smallest file: MatMulNBits for quantised MatMul/Gemm, int8 QDQ for Conv' },
  { label: 'onnx-qdq', description: 'DequantizeLinear for every quantised layer: int4 codes up to 4 bits, int8 above' },
  { label: 'onnx-decode', description: 'standard ops that rebuild each layer from packed codes, vector codebooks and rotations' },
  { label: 'onnx-fakequant', description: 'float weights holding the quantised values (for checking)' },
];

async function exportRun(ctx: Ctx, s: RunServices, dir?: string): Promise<void> {
  if (!requireTrust(ctx, 'Exporting a run')) return;
  const run = dir ? await s.runsTree.index.entry(dir) : (await pickRuns(s, 'Export which run?', { succeededOnly: true }))?.[0];
  if (!run) return;
  const record = run.record;
  if (record.status !== 'succeeded') return void vscode.window.showWarningMessage(`QRecipe: run ${record.id} is ${record.status}; only a finished run can be exported.`);
  // vq and incoherence layers fit only the formats that store their form (the runner refuses the others too)
  const ownForm = record.layers.some((l) => isOwnFormMethod(l.method));
  const offered = ownForm ? formats.filter((f) => (OWN_FORM_FORMATS as readonly string[]).includes(f.label)) : formats;
  const format = await vscode.window.showQuickPick(offered, { title: ownForm ? 'Export format (vq / incoherence layers: onnx-decode or onnx-fakequant)' : 'Export format' });
  if (!format) return;
  const ws = workspaceFolderOf(vscode.Uri.file(run.dir)) ?? path.dirname(run.dir);
  const dest = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(path.join(ws, `${path.basename(record.modelPath, '.onnx')}-${record.id}.onnx`)),
    filters: { 'ONNX models': ['onnx'] },
    title: 'Export the compressed model to',
  });
  if (!dest) return;
  // the save dialog asked before choosing an existing file: the runner may replace it (--force)
  // the runner protocol: progress of the verification, warnings, the end; Cancel sends the cancel line
  const end = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `QRecipe: exporting ${record.id}`, cancellable: true }, async (progress, token) => {
    // the save dialog is the user's consent to the place and to replacing a file; inputs and the run store stay refused
    const proc = new RunnerProcess(ctx.asset('dist/cli.js'), ['export', run.dir, '--format', format.label, '-o', dest.fsPath, '--runs', runsFolder(ws), '--json-events', '--workspace', ws, '--allow-outside', '--force'], { cwd: ws, env: runnerEnv() });
    token.onCancellationRequested(() => proc.cancel());
    let last: Extract<RunnerEvent, { type: 'run-end' }> | undefined;
    proc.onLine((l) => ctx.output.info(`[export] ${l}`));
    proc.onEvent((e) => {
      if (e.type === 'progress') progress.report({ message: `${e.label ?? 'verifying'} ${Math.floor((100 * e.done) / Math.max(1, e.total))}%${e.etaSeconds !== undefined ? ` · ${formatSeconds(e.etaSeconds)} left` : ''}` });
      else if (e.type === 'log') ctx.output[e.level === 'error' ? 'error' : e.level === 'warning' ? 'warn' : 'info'](`export: ${e.message}`);
      else if (e.type === 'run-end') last = e;
    });
    const exit = await proc.exited;
    proc.dispose();
    return last ?? { type: 'run-end' as const, status: 'failed' as const, seconds: 0, error: exit.stderrTail.trim().split('\n').pop() || `the runner exited with code ${exit.code}` };
  });
  if (end.status === 'cancelled') return void vscode.window.showWarningMessage('QRecipe: the export was stopped; the run\'s record is unchanged.');
  if (end.status === 'failed' && !end.error?.includes('does not load')) {
    return void vscode.window.showErrorMessage(`QRecipe: export failed: ${end.error ?? 'see the QRecipe output'}`, 'Show Output').then((p) => p && ctx.output.show());
  }
  ctx.log(`exported ${record.id} as ${format.label} to ${dest.fsPath}`);
  s.runsTree.index.forget(run.dir);
  s.runsTree.refresh();
  const after = await s.runsTree.index.entry(run.dir);
  const e = after?.record.artifacts.exports.filter((x) => path.resolve(x.path) === path.resolve(dest.fsPath)).at(-1);
  const text = e ? exportMessage(e) : `exported to ${path.basename(dest.fsPath)}.`;
  const show = e && (!e.verified || e.check?.ok === false) ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
  const pick = await show(`QRecipe: ${text}`, 'Inspect', 'Open Run', 'Reveal');
  if (pick === 'Inspect') await vscode.commands.executeCommand('qrecipe.inspectModel', dest);
  else if (pick === 'Open Run') await vscode.commands.executeCommand('qrecipe.openRun', run.dir);
  else if (pick === 'Reveal') await reveal(dest);
}
