// The Runs tree: runs of the workspace's run store grouped by recipe, newest first. A run is labelled
// by what differs from the other runs of its recipe ("gptq 3b g64"), described by its key metrics,
// and its tooltip holds its settings and every metric with the change against the original.
// Records come from RunIndex (cached, re-read only when run.json changes); live progress comes from
// RunManager keyed by run id, and a progress event repaints only that run's row.
import * as vscode from 'vscode';
import path from 'node:path';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import type { BrokenRun } from '../../../language-server/core/runs/store';
import { glanceMetrics, formatMetric, listedKeys, metricInfo } from '../../../language-server/core/format/metrics';
import { formatBytes } from '../../../language-server/core/format/numbers';
import { runLabels } from '../../../language-server/core/runs/labels';
import { runsFolder } from '../config';
import { progressText, type RunChange, type RunManager } from './run-manager';
import type { RunEntry, RunIndex } from './run-index';
import { runTooltip } from './summaries';

export type RunsNode =
  | { kind: 'recipe'; recipe: string }
  | { kind: 'run'; id: string; dir: string; recipe: string }
  /** A run folder whose run.json cannot be used: shown with the reason, never hiding the others. */
  | ({ kind: 'broken' } & BrokenRun)
  | { kind: 'detail'; label: string; description?: string; tooltip?: string; icon?: string };

const statusIcon: Record<string, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin'),
  succeeded: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
};

export class RunsTree implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[] = [];
  /** Stable node objects (the tree refreshes a node by identity). */
  private readonly groups = new Map<string, Extract<RunsNode, { kind: 'recipe' }>>();
  private readonly runNodes = new Map<string, Extract<RunsNode, { kind: 'run' }>>();
  private entries: RunEntry[] = [];
  private labels = new Map<string, string>();
  private pending = new Set<RunsNode | undefined>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runs: RunManager, readonly index: RunIndex) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/run.json');
    const onFile = (uri: vscode.Uri): void => this.fileChanged(path.dirname(uri.fsPath));
    this.subs.push(watcher, watcher.onDidCreate(onFile), watcher.onDidChange(onFile), watcher.onDidDelete(onFile));
    this.subs.push(runs.onDidChange((c) => this.runChanged(c)));
    this.subs.push(vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('qrecipe.runsFolder') && this.refresh()));
  }

  /** Repaints the whole tree (coalesced). */
  refresh(): void {
    this.schedule(undefined);
  }

  private runChanged(c: RunChange): void {
    const node = c.runId ? this.runNodes.get(c.runId) : undefined;
    // a new run, or one that ended, changes the list; progress repaints its own row only
    this.schedule(!c.structural && node ? node : undefined);
  }

  private fileChanged(dir: string): void {
    const known = this.entries.find((e) => e.dir === dir);
    const node = known ? this.runNodes.get(known.record.id) : undefined;
    void this.index.entry(dir).then((e) => {
      const sameRun = e && known && e.record.id === known.record.id && e.record.status === known.record.status;
      if (e && known) known.record = e.record;
      this.schedule(sameRun && node ? node : undefined);
    });
  }

  /** Coalesces bursts (progress events, file events) into one repaint per node per 150 ms. */
  private schedule(node: RunsNode | undefined): void {
    this.pending.add(node);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const nodes = this.pending;
      this.pending = new Set();
      if (nodes.has(undefined)) this.changed.fire(undefined);
      else for (const n of nodes) this.changed.fire(n);
    }, 150);
  }

  async allRuns(): Promise<RunEntry[]> {
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => runsFolder(f.uri.fsPath));
    this.entries = await this.index.list(roots);
    this.labels = new Map();
    const byRecipe = new Map<string, RunRecord[]>();
    for (const e of this.entries) { const g = byRecipe.get(e.record.recipePath); if (g) g.push(e.record); else byRecipe.set(e.record.recipePath, [e.record]); }
    for (const rs of byRecipe.values()) for (const [id, l] of runLabels(rs)) this.labels.set(id, l);
    return this.entries;
  }

  /** The label of a run among the runs of its recipe ("gptq 3b g64"). */
  label(record: RunRecord): string {
    return this.labels.get(record.id) ?? record.id;
  }

  async getChildren(node?: RunsNode): Promise<RunsNode[]> {
    if (!node) {
      const order: string[] = [];
      const seen = new Set<string>();
      for (const e of await this.allRuns()) if (!seen.has(e.record.recipePath)) { seen.add(e.record.recipePath); order.push(e.record.recipePath); }
      const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => runsFolder(f.uri.fsPath));
      return [...order.map((recipe): RunsNode => this.group(recipe)), ...this.index.broken(roots).map((b): RunsNode => ({ kind: 'broken', ...b }))];
    }
    if (node.kind === 'recipe') return this.entries.filter((e) => e.record.recipePath === node.recipe).map((e) => this.runNode(e));
    if (node.kind === 'run') {
      const e = this.entries.find((x) => x.record.id === node.id);
      return e ? details(e.record) : [];
    }
    return [];
  }

  getParent(node: RunsNode): RunsNode | undefined {
    return node.kind === 'run' ? this.group(node.recipe) : undefined;
  }

  private group(recipe: string): Extract<RunsNode, { kind: 'recipe' }> {
    let g = this.groups.get(recipe);
    if (!g) { g = { kind: 'recipe', recipe }; this.groups.set(recipe, g); }
    return g;
  }

  private runNode(e: RunEntry): Extract<RunsNode, { kind: 'run' }> {
    let n = this.runNodes.get(e.record.id);
    if (!n) { n = { kind: 'run', id: e.record.id, dir: e.dir, recipe: e.record.recipePath }; this.runNodes.set(e.record.id, n); }
    return n;
  }

  /** The record behind a run node (cached). */
  record(node: Extract<RunsNode, { kind: 'run' }>): RunRecord | undefined {
    return this.entries.find((e) => e.record.id === node.id)?.record ?? this.index.cached(node.dir)?.record;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'recipe') {
      const n = this.entries.filter((e) => e.record.recipePath === node.recipe).length;
      const item = new vscode.TreeItem(path.basename(node.recipe), vscode.TreeItemCollapsibleState.Expanded);
      item.id = `recipe:${node.recipe}`;
      item.description = `${n} run${n === 1 ? '' : 's'}`;
      item.iconPath = new vscode.ThemeIcon('file-code');
      item.tooltip = node.recipe;
      item.resourceUri = vscode.Uri.file(node.recipe);
      item.contextValue = 'qrecipe.recipe';
      return item;
    }
    if (node.kind === 'run') {
      const r = this.record(node);
      const live = this.runs.byId(node.id);
      const item = new vscode.TreeItem(r ? this.label(r) : node.id, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = node.dir;
      const status = live ? 'running' : r?.status ?? 'failed';
      item.iconPath = statusIcon[status] ?? statusIcon.failed;
      item.description = live ? progressText(live) : r?.status === 'succeeded' ? glanceMetrics(r.metrics.compressed) : status;
      if (r) item.tooltip = new vscode.MarkdownString(runTooltip(r, this.label(r)));
      item.contextValue = `qrecipe.run.${status}`;
      item.command = { command: 'qrecipe.openRun', title: 'Open Run', arguments: [node.dir] };
      return item;
    }
    if (node.kind === 'broken') {
      const item = new vscode.TreeItem(node.id, vscode.TreeItemCollapsibleState.None);
      item.id = node.dir;
      item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
      item.description = `broken: ${node.reason}`;
      item.tooltip = `${node.dir}\n\nThis run's run.json cannot be used: ${node.reason}`;
      item.contextValue = 'qrecipe.brokenRun';
      item.command = { command: 'qrecipe.openRun', title: 'Open Run', arguments: [node.dir] };
      return item;
    }
    const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
    item.description = node.description;
    item.tooltip = node.tooltip ?? (node.description ? `${node.label}: ${node.description}` : undefined);
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    return item;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}

/** The rows under a run: every metric (original → compressed), the exports, the error, the device. */
function details(r: RunRecord): RunsNode[] {
  const out: RunsNode[] = [];
  const c = r.metrics.compressed ?? {}, o = r.metrics.original ?? {};
  for (const k of listedKeys(o, c)) {
    const info = metricInfo(k);
    out.push({ kind: 'detail', label: info.label, description: `${o[k] !== undefined ? `${formatMetric(k, o[k])} → ` : ''}${formatMetric(k, c[k])}`, tooltip: `${info.label}: ${info.help}`, icon: 'graph' });
  }
  for (const e of r.artifacts.exports) out.push({ kind: 'detail', label: path.basename(e.path), description: `${e.format}, ${formatBytes(e.bytes)}${e.verified ? ', loads in onnxruntime' : ''}`, tooltip: e.path, icon: 'package' });
  if (r.error) out.push({ kind: 'detail', label: 'error', description: r.error, tooltip: r.error, icon: 'error' });
  out.push({ kind: 'detail', label: 'device', description: r.device, icon: 'chip' });
  return out;
}
