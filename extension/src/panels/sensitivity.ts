// The Sensitivity panel: layer sensitivity heat map, LLM-MQ bit allocation under a budget slider,
// the budget → predicted-loss frontier, pins, "write allocation to recipe", and SPADE traces.
// The engine runs in the `qrecipe` CLI (`sensitivity`, `spade`, cached in the run store); the
// allocation tables live here, in the extension host, so that each slider move is a lookup and a
// backtrack answered in milliseconds. One panel per recipe; survives reloads through a serializer.
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { runCli } from '../cli';
import { webviewHtml, webviewOptions } from './webview-html';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { allocationEdits, allocateStages } from '../../../language-server/core/sensitivity/recipe-edit';
import type { FrontierPointView, SensitivityMetric, SensitivityResult, SensitivityViewData, SpadeResult } from '../../../language-server/core/sensitivity/types';
import { isFromWebview, type FromWebview, type ToWebview } from '../../../webviews/protocol';
import { checkFile } from '../../../language-server/core/recipe/check';
import { listOcrLines } from '../../../language-server/core/model/data/ocr';
import { readFile } from 'node:fs/promises';

export const SENSITIVITY_VIEW_TYPE = 'qrecipe.sensitivity';

/** What the serializer gets back after a reload (the webview keeps the rest with setState). */
interface PanelState {
  recipe: string;
}

const strip = (f: { bytes: number; averageBits: number; predicted: number }[]): FrontierPointView[] =>
  f.map(({ bytes, averageBits, predicted }) => ({ bytes, averageBits, predicted }));

/** Registers the command, the serializer and the CodeLens on `allocate` stages. */
export function registerSensitivityPanel(ctx: Ctx): void {
  ctx.push(vscode.commands.registerCommand('qrecipe.showSensitivity', async (arg?: unknown) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri || !uri.fsPath.endsWith('.qrecipe')) {
      void vscode.window.showWarningMessage('QRecipe: open a .qrecipe file with an allocate stage to show its sensitivity.');
      return;
    }
    SensitivityPanel.show(ctx, uri.fsPath);
  }));
  ctx.push(vscode.window.registerWebviewPanelSerializer(SENSITIVITY_VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      const recipe = (state as Partial<PanelState> | undefined)?.recipe;
      if (typeof recipe !== 'string') { panel.dispose(); return; }
      panel.webview.options = webviewOptions(ctx.extension.extensionUri);
      SensitivityPanel.adopt(ctx, panel, recipe);
    },
  }));
  ctx.push(vscode.languages.registerCodeLensProvider({ language: 'qrecipe' }, {
    provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
      return allocateStages(doc.uri.fsPath, doc.getText()).map(({ line }) => new vscode.CodeLens(new vscode.Range(line, 0, line, 0), {
        title: '$(graph) Sensitivity', command: 'qrecipe.showSensitivity', arguments: [doc.uri],
        tooltip: 'Layer sensitivity, bit allocation under a budget, and SPADE traces',
      }));
    },
  }));
}

/** A result without layers for recipes that have no allocate stage (the view shows SPADE only). */
async function spadeOnlyResult(recipe: string): Promise<SensitivityResult> {
  const { analysis } = await checkFile(recipe);
  const r = analysis.recipe;
  const d = r.datasets[0];
  let samples: string[] = [];
  if (d?.source.kind === 'ocr') samples = (await listOcrLines(d.source.path, d.source.labels)).files.map((f) => path.basename(f));
  else if (d?.source.kind === 'text') samples = (await readFile(d.source.path, 'utf8')).split('\n').map((x) => x.trim()).filter((x) => x.length >= 16).slice(0, 12).map((x) => x.slice(0, 160));
  return {
    version: 1, recipe, model: r.model?.path ?? '', modelHash: '', dataHash: '', dataset: d?.name ?? '', samples: samples.length, metricAsked: 'hessian',
    group: 128, symmetric: false, outliers: 0, budget: { kind: 'bits', bits: 4 }, stage: { index: 0, line: 0 }, layers: [], measured: [], seconds: {},
    notes: ['This recipe has no allocate stage: only SPADE is available.'], spadeSamples: samples,
  };
}

export class SensitivityPanel {
  private static readonly panels = new Map<string, SensitivityPanel>();

  static show(ctx: Ctx, recipe: string): void {
    const open = SensitivityPanel.panels.get(recipe);
    if (open) { open.panel.reveal(); return; }
    const panel = vscode.window.createWebviewPanel(SENSITIVITY_VIEW_TYPE, `Sensitivity: ${path.basename(recipe)}`, vscode.ViewColumn.Beside, webviewOptions(ctx.extension.extensionUri));
    SensitivityPanel.adopt(ctx, panel, recipe);
  }

  static adopt(ctx: Ctx, panel: vscode.WebviewPanel, recipe: string): void {
    SensitivityPanel.panels.set(recipe, new SensitivityPanel(ctx, panel, recipe));
  }

  private result: SensitivityResult | undefined;
  private spade: SpadeResult[] = [];
  /** Allocators by metric and pins: building one is the only slow step, solving is a lookup. */
  private readonly allocators = new Map<string, Allocator>();
  private busy: vscode.CancellationTokenSource | undefined;

  private constructor(private readonly ctx: Ctx, readonly panel: vscode.WebviewPanel, private readonly recipe: string) {
    panel.title = `Sensitivity: ${path.basename(recipe)}`;
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'extension', 'media', 'icon.png');
    panel.webview.html = webviewHtml(panel.webview, ctx.extension.extensionUri, { script: 'sensitivity.js', title: `Sensitivity of ${path.basename(recipe)}`, initial: { recipe } satisfies PanelState });
    panel.webview.onDidReceiveMessage((m: unknown) => { void this.onMessage(m); });
    panel.onDidDispose(() => {
      this.busy?.cancel();
      if (SensitivityPanel.panels.get(recipe) === this) SensitivityPanel.panels.delete(recipe);
    });
  }

  private post(m: ToWebview): void {
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isFromWebview(m)) {
      this.ctx.output.warn(`sensitivity view sent an invalid message: ${JSON.stringify(m).slice(0, 200)}`);
      return;
    }
    try {
      await this.handle(m);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.output.error(`sensitivity: ${message}`);
      this.post({ type: 'sensitivity/status', state: 'error', message });
    }
  }

  private async handle(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        if (this.result) this.sendData();
        else await this.compute([]);
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
      case 'log':
        this.ctx.output[m.level === 'error' ? 'error' : m.level === 'warning' ? 'warn' : 'info'](`sensitivity view: ${m.message}`);
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

  /** Runs a CLI command for this recipe with progress in the view; returns its parsed JSON output. */
  private async cli<T>(label: string, args: string[]): Promise<T | undefined> {
    this.busy?.cancel();
    const cts = new vscode.CancellationTokenSource();
    this.busy = cts;
    this.post({ type: 'sensitivity/status', state: 'computing', message: `${label}…` });
    const r = await runCli(this.ctx, [...args, '--json', '--progress'], {
      cwd: path.dirname(this.recipe), token: cts.token,
    });
    if (cts.token.isCancellationRequested) return undefined;
    if (r.code !== 0) {
      const why = r.stderr.trim().split('\n').filter((l) => !l.startsWith('progress ')).slice(-3).join(' ') || `exit code ${r.code}`;
      this.post({ type: 'sensitivity/status', state: 'error', message: `${label} failed: ${why}` });
      return undefined;
    }
    this.post({ type: 'sensitivity/status', state: 'idle', message: '' });
    return JSON.parse(r.stdout) as T;
  }

  private async compute(extra: string[]): Promise<void> {
    const text = (await vscode.workspace.openTextDocument(vscode.Uri.file(this.recipe))).getText();
    if (!allocateStages(this.recipe, text).length) {
      // No allocate stage: the view opens on SPADE alone, with the recipe's first data set's samples.
      this.result = await spadeOnlyResult(this.recipe);
      this.sendData();
      return;
    }
    const result = await this.cli<SensitivityResult>('Measuring layer sensitivity', ['sensitivity', this.recipe, ...extra]);
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
    const r = await this.cli<SpadeResult>('Running SPADE', ['spade', this.recipe, '--sample', sample]);
    if (!r) return;
    this.spade = [r, ...this.spade.filter((s) => s.sample !== sample)];
    if (this.result) this.sendData();
  }

  private async revealLayer(layer: string): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(this.recipe));
    const text = doc.getText();
    const stage = allocateStages(this.recipe, text)[this.result?.stage.index ?? 0] ?? allocateStages(this.recipe, text)[0];
    let start = stage ? stage.stage.loc.start : 0;
    let end = stage ? stage.stage.keywordLoc.end : 0;
    const own = stage?.stage.overrides.find((o) => o.pattern.value === layer);
    if (own) { start = own.loc.start; end = own.loc.end; }
    const range = new vscode.Range(doc.positionAt(start), doc.positionAt(end));
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: false, selection: range });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private async writeAllocation(bits: Record<string, number>): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(this.recipe));
    const which = Math.max(0, allocateStages(this.recipe, doc.getText()).findIndex((s) => s.line === this.result?.stage.line));
    const edits = allocationEdits(this.recipe, doc.getText(), bits, which);
    const we = new vscode.WorkspaceEdit();
    for (const e of edits) we.replace(doc.uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.text);
    const ok = await vscode.workspace.applyEdit(we);
    if (!ok) throw new Error(`could not edit ${this.recipe}`);
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: true });
    void vscode.window.setStatusBarMessage(`QRecipe: wrote ${Object.keys(bits).length} layer widths into ${path.basename(this.recipe)} (undo with Ctrl+Z)`, 5000);
  }
}
