// The Sensitivity panel: layer sensitivity heat map, LLM-MQ bit allocation under a budget slider,
// the budget → predicted-loss frontier, pins, "write allocation to recipe", and SPADE traces.
// The engine runs in the runner (`qrecipe sensitivity|spade --json-events`: progress with ETA,
// cancel, the result as an event; cached in the run store); recipe structure (allocate stages,
// the write-back edits) comes from the language server. The allocation tables live here, built from
// the engine's result with the pure core solver, so that each slider move is a lookup answered in
// milliseconds. One panel per recipe; survives reloads through the shared panel serializer.
import { requireTrust, untrustedMessage } from '../trust';
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { PanelHost, type PanelSpec } from './panel-host';
import { request } from '../lsp';
import { runnerEnv } from '../config';
import { RunnerProcess } from '../runs/runner-process';
import { allocateStages, allocationEdits } from '../../../language-server/core/protocol/lsp';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import type { FrontierPointView, SensitivityMetric, SensitivityResult, SensitivityViewData, SpadeResult } from '../../../language-server/core/sensitivity/types';
import type { RunnerEvent } from '../../../language-server/core/protocol/runner';
import type { FromWebview } from '../../../webviews/protocol';

export const SENSITIVITY: PanelSpec = { viewType: 'qrecipe.sensitivity', script: 'sensitivity.js', name: 'sensitivity view' };

/** What the serializer gets back after a reload (the webview keeps the rest with setState). */
interface PanelState {
  recipe: string;
}

const strip = (f: { bytes: number; averageBits: number; predicted: number }[]): FrontierPointView[] =>
  f.map(({ bytes, averageBits, predicted }) => ({ bytes, averageBits, predicted }));

const toRange = (r: { start: { line: number; character: number }; end: { line: number; character: number } }): vscode.Range =>
  new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);

/** Registers the command and the serializer (the CodeLens on `allocate` stages comes from the language server). */
export function registerSensitivityPanel(ctx: Ctx): void {
  ctx.push(vscode.commands.registerCommand('qrecipe.showSensitivity', async (arg?: unknown) => {
    const uri = arg instanceof vscode.Uri ? arg : typeof arg === 'string' ? vscode.Uri.parse(arg) : vscode.window.activeTextEditor?.document.uri;
    if (!uri || uri.scheme !== 'file' || !uri.fsPath.endsWith('.qrecipe')) {
      void vscode.window.showWarningMessage('QRecipe: open a .qrecipe file to show its sensitivity (an allocate stage gets the allocation view; any recipe gets SPADE).');
      return;
    }
    SensitivityPanel.show(ctx, uri.fsPath);
  }));
  PanelHost.registerSerializer(ctx, SENSITIVITY, (panel, state) => {
    const recipe = (state as Partial<PanelState> | undefined)?.recipe;
    if (typeof recipe !== 'string') { panel.dispose(); return; }
    SensitivityPanel.adopt(ctx, panel, recipe);
  });
}

export class SensitivityPanel extends PanelHost {
  private static readonly panels = new Map<string, SensitivityPanel>();

  static show(ctx: Ctx, recipe: string): void {
    const open = SensitivityPanel.panels.get(recipe);
    if (open) { open.panel.reveal(); return; }
    SensitivityPanel.adopt(ctx, PanelHost.create(ctx, SENSITIVITY, `Sensitivity: ${path.basename(recipe)}`, vscode.ViewColumn.Beside), recipe);
  }

  static adopt(ctx: Ctx, panel: vscode.WebviewPanel, recipe: string): void {
    SensitivityPanel.panels.set(recipe, new SensitivityPanel(ctx, panel, recipe));
  }

  private result: SensitivityResult | undefined;
  private spade: SpadeResult[] = [];
  /** Allocators by metric and pins: building one is the only slow step, solving is a lookup. */
  private readonly allocators = new Map<string, Allocator>();
  private busy: RunnerProcess | undefined;

  private constructor(ctx: Ctx, panel: vscode.WebviewPanel, private readonly recipe: string) {
    super(ctx, panel, SENSITIVITY, `Sensitivity of ${path.basename(recipe)}`, { recipe } satisfies PanelState);
    panel.title = `Sensitivity: ${path.basename(recipe)}`;
  }

  protected onDispose(): void {
    this.busy?.cancel();
    if (SensitivityPanel.panels.get(this.recipe) === this) SensitivityPanel.panels.delete(this.recipe);
  }

  protected onError(message: string): void {
    this.post({ type: 'sensitivity/status', state: 'error', message });
  }

  protected async handle(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        // a view VS Code restores asks for its data by itself: computed only in a trusted workspace, quietly refused else
        if (this.result) this.sendData();
        else await this.compute([], true);
        break;
      case 'sensitivity/solve': {
        if (!this.result) return;
        const { allocator, fresh } = this.allocator(m.metric, m.pins);
        const allocation = allocator.solve(m.budget);
        this.post({ type: 'sensitivity/solved', inReplyTo: m.requestId, allocation, ...(fresh ? { frontier: { bytes: strip(allocator.frontier('bytes')), bits: strip(allocator.frontier('bits')) } } : {}) });
        break;
      }
      case 'sensitivity/reveal-layer':
        await this.revealLayer(m.layer);
        break;
      case 'sensitivity/write-allocation':
        await this.writeAllocation(m.bits);
        break;
      case 'sensitivity/recompute':
        await this.compute(['--no-cache', ...(m.metric ? ['--metric', m.metric] : [])]);
        break;
      case 'sensitivity/spade':
        await this.runSpade(m.sample);
        break;
      case 'sensitivity/cancel':
        this.busy?.cancel();
        break;
      default:
        break;
    }
  }

  private allocator(metric: SensitivityMetric, pins: Record<string, number>): { allocator: Allocator; fresh: boolean } {
    const key = `${metric}|${JSON.stringify(Object.entries(pins).sort())}`;
    let allocator = this.allocators.get(key);
    if (allocator) return { allocator, fresh: false };
    if (this.allocators.size > 16) this.allocators.clear();
    allocator = new Allocator(this.result!.layers, { metric, pins });
    this.allocators.set(key, allocator);
    return { allocator, fresh: true };
  }

  /**
   * Runs an analysis command in the runner with progress (and ETA) in the view and a Stop button;
   * resolves with its `result` event's data, or undefined when it failed (the view says why) or was stopped.
   */
  private async runner<T>(label: string, command: 'sensitivity' | 'spade', args: string[], quiet = false): Promise<T | undefined> {
    // the one place this view starts the runner: never in an untrusted workspace (nor on restore)
    if (!requireTrust(this.ctx, command === 'spade' ? 'Tracing with SPADE' : 'Measuring sensitivity', { quiet })) {
      this.post({ type: 'sensitivity/status', state: 'error', message: untrustedMessage(command === 'spade' ? 'Tracing with SPADE' : 'Measuring sensitivity') });
      return undefined;
    }
    this.busy?.cancel();
    const proc = new RunnerProcess(this.ctx.asset('dist/cli.js'), [command, this.recipe, ...args, '--json-events'], { cwd: path.dirname(this.recipe), env: runnerEnv() });
    this.busy = proc;
    this.post({ type: 'sensitivity/status', state: 'computing', message: label });
    let result: T | undefined;
    let end: Extract<RunnerEvent, { type: 'run-end' }> | undefined;
    const errors: string[] = [];
    proc.onLine((l) => this.ctx.output.info(`[${command}] ${l}`));
    proc.onEvent((e) => {
      if (e.type === 'progress') this.post({ type: 'sensitivity/status', state: 'computing', message: label, progress: { done: e.done, total: e.total, label: e.label, etaSeconds: e.etaSeconds } });
      else if (e.type === 'result' && e.command === command) result = e.data as T;
      else if (e.type === 'log' && e.level === 'error') errors.push(e.code ? `${e.code} line ${e.line ?? '?'}: ${e.message}` : e.message);
      else if (e.type === 'run-end') end = e;
    });
    const exit = await proc.exited;
    proc.dispose();
    if (this.busy === proc) this.busy = undefined;
    if (this.isDisposed) return undefined;
    if (end?.status === 'cancelled') {
      this.post({ type: 'sensitivity/status', state: this.result ? 'idle' : 'error', message: `${label} stopped.` });
      return undefined;
    }
    if (end?.status !== 'succeeded' || result === undefined) {
      const why = errors.slice(0, 3).join('; ') || end?.error || exit.stderrTail.trim().split('\n').pop() || `the runner exited with code ${exit.code}`;
      this.post({ type: 'sensitivity/status', state: 'error', message: `${label} failed: ${why}` });
      return undefined;
    }
    this.post({ type: 'sensitivity/status', state: 'idle', message: '' });
    return result;
  }

  private async compute(extra: string[], quiet = false): Promise<void> {
    const result = await this.runner<SensitivityResult>('Measuring how much each layer suffers at each bit width', 'sensitivity', extra, quiet);
    if (!result) return;
    this.result = result;
    this.allocators.clear();
    this.sendData();
  }

  private sendData(): void {
    const result = this.result!;
    if (!result.layers.length) {
      const empty = { min: 0, max: 0 };
      this.post({ type: 'sensitivity/data', data: { result, frontier: { bytes: [], bits: [] }, ranges: { bytes: empty, bits: empty }, spade: this.spade, spadeSamples: result.spadeSamples ?? [] } });
      return;
    }
    const pins = Object.fromEntries(result.layers.filter((l) => l.pinned !== undefined).map((l) => [l.name, l.pinned!]));
    const { allocator } = this.allocator(result.metricAsked, pins);
    const data: SensitivityViewData = {
      result,
      frontier: { bytes: strip(allocator.frontier('bytes')), bits: strip(allocator.frontier('bits')) },
      ranges: { bytes: allocator.range('bytes'), bits: allocator.range('bits') },
      spade: this.spade,
      spadeSamples: result.spadeSamples ?? [],
    };
    this.post({ type: 'sensitivity/data', data });
  }

  private async runSpade(sample: string): Promise<void> {
    const r = await this.runner<SpadeResult>('Running SPADE', 'spade', ['--sample', sample]);
    if (!r) return;
    this.spade = [r, ...this.spade.filter((s) => s.sample !== sample)];
    if (this.result) this.sendData();
  }

  private async document(): Promise<vscode.TextDocument> {
    // opening the document hands its text to the language server, which answers about it
    return vscode.workspace.openTextDocument(vscode.Uri.file(this.recipe));
  }

  /** The index of the allocate stage the result belongs to, among the recipe's allocate stages now. */
  private stageIndex(stages: { line: number }[]): number {
    const i = stages.findIndex((s) => s.line === this.result?.stage.line);
    return i >= 0 ? i : Math.min(this.result?.stage.index ?? 0, Math.max(0, stages.length - 1));
  }

  private async revealLayer(layer: string): Promise<void> {
    const doc = await this.document();
    const stages = await request(this.ctx, allocateStages, { uri: doc.uri.toString() });
    const stage = stages[this.stageIndex(stages)];
    const own = stage?.overrides.find((o) => o.pattern === layer);
    const range = own ? toRange(own.range) : stage ? toRange(stage.keywordRange) : new vscode.Range(0, 0, 0, 0);
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: false, selection: range });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private async writeAllocation(bits: Record<string, number>): Promise<void> {
    const doc = await this.document();
    const uri = doc.uri.toString();
    const stages = await request(this.ctx, allocateStages, { uri });
    if (!stages.length) throw new Error(`${path.basename(this.recipe)} has no allocate stage to write the allocation into`);
    const r = await request(this.ctx, allocationEdits, { uri, stage: this.stageIndex(stages), bits });
    const we = new vscode.WorkspaceEdit();
    for (const e of r.edits) we.replace(doc.uri, toRange(e.range), e.newText);
    if (!(await vscode.workspace.applyEdit(we))) throw new Error(`could not edit ${this.recipe}`);
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: true });
    this.post({ type: 'sensitivity/written', layers: Object.keys(bits).length, budget: r.budget });
    void vscode.window.setStatusBarMessage(`QRecipe: wrote ${Object.keys(bits).length} layer widths${r.budget ? ` and budget ${r.budget}` : ''} into ${path.basename(this.recipe)} (undo with Ctrl+Z)`, 8000);
  }
}
