// Starts recipe runs as runner child processes and follows them: a cancellable progress
// notification, a status-bar item, the log in the output channel, live per-layer progress for the
// Runs tree. Refuses to run in an untrusted workspace. A runner that crashes or is killed leaves
// the extension usable: the run shows as failed with its log (the run store marks it so).
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { config, runsFolder, workspaceFolderOf } from '../config';
import { RunnerProcess } from './runner-process';
import { confirmWrites, consentArgs, type WriteConsent, type WriteRefused } from './confirm-writes';
import type { RunnerEvent, StageKind } from '../../../language-server/core/protocol/runner';

/** What the Runs tree shows for a run that is still going. */
export interface LiveRun {
  runId?: string;
  runDir?: string;
  recipe: string;
  stage?: StageKind;
  stageLabel?: string;
  done?: number;
  total?: number;
  layer?: string;
  etaSeconds?: number;
  process: RunnerProcess;
}

export const UNTRUSTED_MESSAGE = 'QRecipe does not run recipes in an untrusted workspace: a run executes native code and onnxruntime on the workspace\'s model files. Trust this workspace (Manage Workspace Trust) to run it.';

export class RunManager implements vscode.Disposable {
  private readonly live = new Set<LiveRun>();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a run starts, progresses, or ends: the trees refresh on it. */
  readonly onDidChange = this.changed.event;
  private readonly status: vscode.StatusBarItem;

  constructor(private readonly ctx: Ctx) {
    this.status = vscode.window.createStatusBarItem('qrecipe.run', vscode.StatusBarAlignment.Left, 10);
    this.status.name = 'QRecipe Run';
    this.status.command = 'qrecipe.cancelRun';
    ctx.push(this.status, this.changed);
  }

  get runs(): readonly LiveRun[] {
    return [...this.live];
  }

  liveByDir(dir: string): LiveRun | undefined {
    return [...this.live].find((r) => r.runDir && path.resolve(r.runDir) === path.resolve(dir));
  }

  /**
   * Runs a recipe; resolves with the run folder (or undefined if it never started). Writes outside
   * the workspace or over an existing file are refused by the runner; the user is asked, and the
   * run starts again with their consent (`consent`).
   */
  async run(recipe: vscode.Uri, consent: WriteConsent = {}): Promise<string | undefined> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust').then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      this.ctx.output.warn(`refused to run ${recipe.fsPath}: workspace not trusted`);
      return undefined;
    }
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === recipe.toString());
    if (doc?.isDirty) await doc.save();
    const ws = workspaceFolderOf(recipe) ?? path.dirname(recipe.fsPath);
    const cfg = config();
    const args = ['run', recipe.fsPath, '--json-events', '--device', cfg.device, '--runs', runsFolder(ws), '--workspace', ws, ...consentArgs(consent)];
    const env: Record<string, string> = {};
    // The native addon's OpenMP loops read OMP_NUM_THREADS; onnxruntime sessions read QRECIPE_THREADS.
    if (cfg.threads > 0) env.QRECIPE_THREADS = env.OMP_NUM_THREADS = String(cfg.threads);
    if (cfg.executionProvider !== 'auto') env.QRECIPE_EXECUTION_PROVIDER = cfg.executionProvider;
    this.ctx.log(`run: ${path.basename(recipe.fsPath)} (device ${cfg.device})`);
    const proc = new RunnerProcess(this.ctx.asset('dist/cli.js'), args, { cwd: path.dirname(recipe.fsPath), env });
    const live: LiveRun = { recipe: recipe.fsPath, process: proc };
    this.live.add(live);
    this.ctx.push(proc);
    proc.onLine((l) => this.ctx.output.info(`[runner] ${l}`));
    proc.onEvent((e) => this.onEvent(live, e));
    this.changed.fire();
    this.updateStatus();

    let endStatus: string | undefined;
    let endError: string | undefined;
    let refused: WriteRefused | undefined;
    proc.onEvent((e) => {
      if (e.type === 'run-end') { endStatus = e.status; endError = e.error; }
      if (e.type === 'write-refused') refused = e;
    });
    const outcome = vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `QRecipe: ${path.basename(recipe.fsPath)}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => proc.cancel());
        let lastPct = 0;
        const sub = proc.onEvent((e) => {
          if (e.type === 'stage-start') progress.report({ message: e.label });
          if (e.type === 'progress' && e.total > 0) {
            const pct = (100 * e.done) / e.total;
            progress.report({ message: `${e.stage} ${e.done}/${e.total}${e.layer ? ` ${e.layer}` : ''}${e.etaSeconds !== undefined ? ` (ETA ${Math.ceil(e.etaSeconds)} s)` : ''}`, increment: Math.max(0, pct - lastPct) / 7 });
            lastPct = pct;
          }
        });
        try {
          return await proc.exited;
        } finally {
          sub.dispose();
        }
      },
    );
    const exit = await outcome;
    this.live.delete(live);
    this.changed.fire();
    this.updateStatus();
    if (refused && endStatus === 'failed') {
      const again = await confirmWrites(path.basename(recipe.fsPath), refused, consent);
      if (again) return this.run(recipe, again);
    }
    if (endStatus === 'succeeded') {
      void vscode.window.showInformationMessage(`QRecipe: ${path.basename(recipe.fsPath)} finished.`, 'Compare', 'Show Run').then((pick) => {
        if (pick === 'Compare') void vscode.commands.executeCommand('qrecipe.compareRuns');
        if (pick === 'Show Run' && live.runDir) void vscode.commands.executeCommand('qrecipe.openRun', live.runDir);
      });
    } else if (endStatus === 'cancelled') {
      void vscode.window.showWarningMessage(`QRecipe: ${path.basename(recipe.fsPath)} was cancelled.`);
    } else {
      const why = endError ?? (exit.signal ? `the runner was killed (${exit.signal})` : `the runner exited with code ${exit.code}`);
      this.ctx.output.error(`run failed: ${why}\n${exit.stderrTail}`);
      void vscode.window.showErrorMessage(`QRecipe: ${path.basename(recipe.fsPath)} failed: ${why}`, 'Show Log').then((pick) => {
        if (pick) this.ctx.output.show();
      });
    }
    return live.runDir;
  }

  cancelAll(): number {
    for (const r of this.live) r.process.cancel();
    return this.live.size;
  }

  private onEvent(live: LiveRun, e: RunnerEvent): void {
    switch (e.type) {
      case 'run-start':
        live.runId = e.runId;
        live.runDir = e.runDir;
        break;
      case 'stage-start':
        Object.assign(live, { stage: e.stage, stageLabel: e.label, done: undefined, total: undefined, layer: undefined, etaSeconds: undefined });
        this.ctx.log(`stage ${e.index + 1}: ${e.label}`);
        break;
      case 'progress':
        Object.assign(live, { stage: e.stage, done: e.done, total: e.total, layer: e.layer, etaSeconds: e.etaSeconds });
        break;
      case 'log':
        if (e.level === 'error') this.ctx.output.error(e.message);
        else if (e.level === 'warning') this.ctx.output.warn(e.message);
        else this.ctx.output.info(e.message);
        break;
      case 'metrics':
        this.ctx.log(`metrics (${e.model}${e.dataset ? `, ${e.dataset}` : ''}): ${Object.entries(e.metrics).map(([k, v]) => `${k}=${v.toPrecision(5)}`).join(' ')}`);
        break;
      case 'run-end':
        this.ctx.log(`run ${e.status} in ${e.seconds.toFixed(1)} s${e.error ? `: ${e.error}` : ''}`);
        break;
      default:
        break;
    }
    this.changed.fire();
    this.updateStatus();
  }

  private updateStatus(): void {
    const r = [...this.live].at(-1);
    if (!r) {
      this.status.hide();
      return;
    }
    const pct = r.total ? ` ${Math.floor((100 * (r.done ?? 0)) / r.total)}%` : '';
    this.status.text = `$(sync~spin) QRecipe: ${r.stage ?? 'starting'}${pct}`;
    this.status.tooltip = `${path.basename(r.recipe)} — ${r.stageLabel ?? 'starting'}${r.layer ? ` (${r.layer})` : ''}. Click to cancel.`;
    this.status.show();
  }

  dispose(): void {
    for (const r of this.live) r.process.dispose();
  }
}
