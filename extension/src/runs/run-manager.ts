// Starts recipe runs as runner child processes and follows them: a cancellable progress
// notification, a status-bar item, the log in the output channel, live per-layer progress for the
// Runs tree (keyed by run id), and a finish notification with the key metrics. Each runner's event
// stream is subscribed once. Refuses to run in an untrusted workspace. A runner that crashes or is
// killed leaves the extension usable: the run shows as failed with its log.
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { config, runnerEnv, runsFolder, workspaceFolderOf } from '../config';
import { RunnerProcess } from './runner-process';
import type { RunIndex } from './run-index';
import { confirmWrites, consentArgs, type WriteConsent, type WriteRefused } from './confirm-writes';
import { requireTrust } from '../trust';
import { EXPORT_EXISTS_CODE, type RunnerEvent } from '../../../language-server/core/protocol/runner';
import { finishMessage, progressText, type RunProgress } from './summaries';

/** What the Runs tree shows for a run that is still going. */
export interface LiveRun extends RunProgress {
  runId?: string;
  runDir?: string;
  recipe: string;
  process: RunnerProcess;
}


/** Context key true while a run is going: `Cancel Run` shows in the palette only then. */
export const RUN_ACTIVE_CONTEXT = 'qrecipe.runActive';

export interface RunChange {
  /** The run that changed (undefined: before its run-start, or a run that never started). */
  runId?: string;
  /** A run started or ended (the tree's structure may change), rather than progressed. */
  structural: boolean;
}


export { progressText };

export class RunManager implements vscode.Disposable {
  private readonly live = new Map<RunnerProcess, LiveRun>();
  private readonly changed = new vscode.EventEmitter<RunChange>();
  /** Fires when a run starts, progresses, or ends. */
  readonly onDidChange = this.changed.event;
  private readonly status: vscode.StatusBarItem;

  constructor(private readonly ctx: Ctx, private readonly index: RunIndex) {
    this.status = vscode.window.createStatusBarItem('qrecipe.run', vscode.StatusBarAlignment.Left, 10);
    this.status.name = 'QRecipe Run';
    this.status.command = 'qrecipe.cancelRun';
    ctx.push(this.status, this.changed);
  }

  get runs(): readonly LiveRun[] {
    return [...this.live.values()];
  }

  byId(runId: string): LiveRun | undefined {
    return this.runs.find((r) => r.runId === runId);
  }

  liveByDir(dir: string): LiveRun | undefined {
    return this.runs.find((r) => r.runDir && path.resolve(r.runDir) === path.resolve(dir));
  }

  /**
   * Runs a recipe; resolves with the run folder (or undefined if it never started). `rerunOf` (a run
   * folder): run again the recipe that run stored, not the file as it is now (`qrecipe run --rerun`).
   * A file already at one of the recipe's export paths stops the runner before any compute (QR401),
   * and so does a write outside the workspace (`write-refused`): the user is asked, and the run starts
   * again with `--force` / `--allow-outside` if they agree.
   */
  async run(recipe: vscode.Uri, opts: { rerunOf?: string; replaceExports?: boolean; consent?: WriteConsent } = {}): Promise<string | undefined> {
    if (!requireTrust(this.ctx, 'Running a recipe')) return undefined;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === recipe.toString());
    if (doc?.isDirty && !opts.rerunOf) await doc.save();
    const ws = workspaceFolderOf(recipe) ?? path.dirname(recipe.fsPath);
    const cfg = config();
    const what = opts.rerunOf ? ['--rerun', opts.rerunOf] : [recipe.fsPath];
    const consent = { ...opts.consent, ...(opts.replaceExports ? { force: true } : {}) };
    const args = ['run', ...what, '--json-events', '--device', cfg.device, '--runs', runsFolder(ws), '--workspace', ws, ...consentArgs(consent)];
    this.ctx.log(`run: ${path.basename(recipe.fsPath)} (device ${cfg.device})`);
    const proc = new RunnerProcess(this.ctx.asset('dist/cli.js'), args, { cwd: path.dirname(recipe.fsPath), env: runnerEnv() });
    const live: LiveRun = { recipe: recipe.fsPath, process: proc };
    this.live.set(proc, live);
    this.ctx.push(proc);
    this.setActive();

    let end: Extract<RunnerEvent, { type: 'run-end' }> | undefined;
    let report: ((e: RunnerEvent) => void) | undefined;
    const occupied: string[] = [];
    let refused: WriteRefused | undefined;
    proc.onLine((l) => this.ctx.output.info(`[runner] ${l}`));
    proc.onEvent((e) => {
      if (e.type === 'run-end') end = e;
      if (e.type === 'write-refused') refused = e;
      if (e.type === 'log' && e.level === 'error' && e.code === EXPORT_EXISTS_CODE) occupied.push(e.message.split(';')[0]!);
      this.onEvent(live, e);
      report?.(e);
    });
    this.changed.fire({ structural: true });

    const exit = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `QRecipe: ${path.basename(recipe.fsPath)}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => proc.cancel());
        let lastPct = 0;
        report = (e) => {
          if (e.type === 'stage-start') { lastPct = 0; progress.report({ message: e.label }); }
          if (e.type === 'progress' && e.total > 0) {
            const pct = (100 * e.done) / e.total;
            progress.report({ message: progressText(live), increment: Math.max(0, pct - lastPct) / 7 });
            lastPct = pct;
          }
        };
        try {
          return await proc.exited;
        } finally {
          report = undefined;
        }
      },
    );
    this.live.delete(proc);
    if (live.runDir) this.index.forget(live.runDir);
    this.setActive();
    this.changed.fire({ runId: live.runId, structural: true });
    const name = path.basename(recipe.fsPath);
    if (refused && end?.status === 'failed') {
      const again = await confirmWrites(name, refused, opts.consent ?? {});
      return again ? this.run(recipe, { ...opts, consent: again }) : undefined;
    }
    if (end?.status === 'failed' && !live.runDir && occupied.length && !opts.replaceExports) {
      const pick = await vscode.window.showWarningMessage(
        `QRecipe: ${name} exports to a file that exists. Replace it?`,
        { modal: true, detail: `${occupied.join('\n')}\n\nEvery run keeps its own copy of its exports in its run folder.` }, 'Replace',
      );
      return pick === 'Replace' ? this.run(recipe, { ...opts, replaceExports: true }) : undefined;
    }
    if (end?.status === 'succeeded' && live.runDir) {
      void this.notifyFinished(live.runDir);
    } else if (end?.status === 'cancelled') {
      void vscode.window.showWarningMessage(`QRecipe: ${name} was cancelled.`);
    } else {
      const why = end?.error ?? (exit.signal ? `the runner was killed (${exit.signal})` : `the runner exited with code ${exit.code}`);
      this.ctx.output.error(`run failed: ${why}\n${exit.stderrTail}`);
      const actions = live.runDir ? ['Show Log', 'Open Run'] : ['Show Output'];
      void vscode.window.showErrorMessage(`QRecipe: ${name} failed: ${why}`, ...actions).then((pick) => {
        if (pick === 'Show Log' && live.runDir) void vscode.commands.executeCommand('qrecipe.openRunLog', live.runDir);
        else if (pick === 'Open Run' && live.runDir) void vscode.commands.executeCommand('qrecipe.openRun', live.runDir);
        else if (pick) this.ctx.output.show();
      });
    }
    return live.runDir;
  }

  /** "quickstart.qrecipe finished: ppl 2.803 (+0.034) · 1.41 MiB (−80 %)" with Open, Compare, Inspect, Reveal. */
  private async notifyFinished(dir: string): Promise<void> {
    const e = await this.index.entry(dir);
    if (!e) return;
    const exported = e.record.artifacts.exports.at(-1);
    const actions = ['Open Run', 'Compare', ...(exported ? ['Inspect Export'] : []), 'Reveal'];
    const pick = await vscode.window.showInformationMessage(`QRecipe: ${finishMessage(e.record)}`, ...actions);
    if (pick === 'Open Run') await vscode.commands.executeCommand('qrecipe.openRun', dir);
    else if (pick === 'Compare') await vscode.commands.executeCommand('qrecipe.compareWithPrevious', dir);
    else if (pick === 'Inspect Export' && exported) await vscode.commands.executeCommand('qrecipe.inspectModel', vscode.Uri.file(exported.path));
    else if (pick === 'Reveal') await vscode.commands.executeCommand('qrecipe.revealArtifacts', dir);
  }

  /** Asks the runs to stop (after the caller confirmed); returns how many were asked. */
  cancel(runs: readonly LiveRun[] = this.runs): number {
    for (const r of runs) r.process.cancel();
    return runs.length;
  }

  private onEvent(live: LiveRun, e: RunnerEvent): void {
    let structural = false;
    switch (e.type) {
      case 'run-start':
        live.runId = e.runId;
        live.runDir = e.runDir;
        structural = true;
        break;
      case 'stage-start':
        Object.assign(live, { stage: e.stage, stageLabel: e.label, done: undefined, total: undefined, layer: undefined, etaSeconds: undefined });
        this.ctx.log(`stage ${e.index + 1}: ${e.label}`);
        break;
      case 'progress':
        Object.assign(live, { stage: e.stage, done: e.done, total: e.total, layer: e.layer ?? e.label, etaSeconds: e.etaSeconds });
        if (e.runEtaSeconds !== undefined) Object.assign(live, { runEtaSeconds: e.runEtaSeconds, runEtaAt: Date.now() });
        break;
      case 'log':
        if (e.level === 'error') this.ctx.output.error(e.message);
        else if (e.level === 'warning') this.ctx.output.warn(e.message);
        else this.ctx.output.info(e.message);
        return;
      case 'metrics':
        this.ctx.log(`metrics (${e.model}${e.dataset ? `, ${e.dataset}` : ''}): ${Object.entries(e.metrics).map(([k, v]) => `${k}=${v.toPrecision(5)}`).join(' ')}`);
        return;
      case 'run-end':
        this.ctx.log(`run ${e.status} in ${e.seconds.toFixed(1)} s${e.error ? `: ${e.error}` : ''}`);
        return;
      default:
        return;
    }
    this.changed.fire({ runId: live.runId, structural });
    this.updateStatus();
  }

  private setActive(): void {
    void vscode.commands.executeCommand('setContext', RUN_ACTIVE_CONTEXT, this.live.size > 0);
    this.updateStatus();
  }

  private updateStatus(): void {
    const r = this.runs.at(-1);
    if (!r) {
      this.status.hide();
      return;
    }
    const pct = r.total ? ` ${Math.floor((100 * (r.done ?? 0)) / r.total)}%` : '';
    this.status.text = `$(sync~spin) QRecipe: ${r.stage ?? 'starting'}${pct}`;
    this.status.tooltip = `${path.basename(r.recipe)}: ${progressText(r)}. Click to stop the run (asks first).`;
    this.status.show();
  }

  dispose(): void {
    for (const p of this.live.keys()) p.dispose();
  }
}
