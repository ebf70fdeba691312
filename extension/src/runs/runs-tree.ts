// The Runs tree: runs of the workspace's run store grouped by recipe, newest first, with a status
// icon, key metrics in the description and live per-layer progress for runs still going.
import { pushAll } from '../../../language-server/core/util/arrays';
import * as vscode from 'vscode';
import path from 'node:path';
import { listRuns, scanRuns, type BrokenRun } from '../../../language-server/core/runs/store';
import type { Metrics, RunRecord } from '../../../language-server/core/protocol/runner';
import { runsFolder } from '../config';
import { formatBytes } from '../../../language-server/core/util/format';
import type { RunManager } from './run-manager';

export type RunsNode =
  | { kind: 'recipe'; recipe: string; runs: { dir: string; record: RunRecord }[] }
  | { kind: 'run'; dir: string; record: RunRecord }
  /** A run folder whose run.json cannot be used: shown with the reason, never hiding the others. */
  | ({ kind: 'broken' } & BrokenRun)
  | { kind: 'detail'; label: string; description?: string; tooltip?: string };

const statusIcon: Record<string, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin'),
  succeeded: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
};

/** The few metrics worth a glance, in the order users read them. */
export function keyMetrics(m: Metrics | undefined): string {
  if (!m) return '';
  const parts: string[] = [];
  if (m.perplexity !== undefined) parts.push(`ppl ${m.perplexity.toFixed(3)}`);
  if (m.accuracy !== undefined) parts.push(`acc ${(100 * m.accuracy).toFixed(2)}%`);
  if (m.cer !== undefined) parts.push(`CER ${(100 * m.cer).toFixed(2)}%`);
  if (m.kl !== undefined) parts.push(`KL ${m.kl.toExponential(2)}`);
  if (m.sizeBytes !== undefined) parts.push(formatBytes(m.sizeBytes));
  if (m.bitsPerWeight !== undefined) parts.push(`${m.bitsPerWeight.toFixed(2)} bpw`);
  return parts.join(' · ');
}

/** `Nov 23 01:30:41` from the run's start time (local), falling back to the id. */
export function runLabel(r: RunRecord): string {
  const t = new Date(r.startedAt);
  if (Number.isNaN(t.getTime())) return r.id;
  const month = t.toLocaleString('en', { month: 'short' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${month} ${t.getDate()} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}


export class RunsTree implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runs: RunManager) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/run.json');
    this.subs.push(watcher, watcher.onDidCreate(() => this.refresh()), watcher.onDidChange(() => this.refresh()), watcher.onDidDelete(() => this.refresh()));
    this.subs.push(runs.onDidChange(() => this.refresh()));
    this.subs.push(vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('qrecipe.runsFolder') && this.refresh()));
  }

  /** Coalesces bursts of progress events into one repaint. */
  refresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.changed.fire(undefined);
    }, 150);
  }

  async allRuns(): Promise<{ dir: string; record: RunRecord }[]> {
    const out: { dir: string; record: RunRecord }[] = [];
    for (const f of vscode.workspace.workspaceFolders ?? []) pushAll(out, await listRuns(runsFolder(f.uri.fsPath)));
    return out.sort((a, b) => b.record.startedAt.localeCompare(a.record.startedAt));
  }

  async getChildren(node?: RunsNode): Promise<RunsNode[]> {
    if (!node) {
      const groups = new Map<string, { dir: string; record: RunRecord }[]>();
      for (const r of await this.allRuns()) {
        const key = r.record.recipePath;
        const g = groups.get(key);
        if (g) g.push(r); else groups.set(key, [r]);
      }
      const broken: RunsNode[] = [];
      for (const f of vscode.workspace.workspaceFolders ?? []) for (const b of (await scanRuns(runsFolder(f.uri.fsPath))).broken) broken.push({ kind: 'broken', ...b });
      return [...[...groups.entries()].map(([recipe, runs]): RunsNode => ({ kind: 'recipe', recipe, runs })), ...broken];
    }
    if (node.kind === 'recipe') return node.runs.map((r) => ({ kind: 'run', ...r }));
    if (node.kind === 'run') return this.details(node.record);
    return [];
  }

  private details(r: RunRecord): RunsNode[] {
    const out: RunsNode[] = [];
    const fmt = (m: Metrics | undefined) => keyMetrics(m) || '—';
    out.push({ kind: 'detail', label: 'original', description: fmt(r.metrics.original) });
    out.push({ kind: 'detail', label: 'compressed', description: fmt(r.metrics.compressed) });
    if (r.metrics.exported) out.push({ kind: 'detail', label: 'exported', description: fmt(r.metrics.exported) });
    for (const e of r.artifacts.exports) out.push({ kind: 'detail', label: path.basename(e.path), description: `${e.format}, ${formatBytes(e.bytes)}${e.verified ? ', verified' : ''}`, tooltip: e.path });
    if (r.error) out.push({ kind: 'detail', label: 'error', description: r.error, tooltip: r.error });
    out.push({ kind: 'detail', label: 'device', description: r.device });
    return out;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'recipe') {
      const item = new vscode.TreeItem(path.basename(node.recipe), vscode.TreeItemCollapsibleState.Expanded);
      item.description = `${node.runs.length} run${node.runs.length === 1 ? '' : 's'}`;
      item.iconPath = new vscode.ThemeIcon('file-code');
      item.tooltip = node.recipe;
      item.resourceUri = vscode.Uri.file(node.recipe);
      item.contextValue = 'qrecipe.recipe';
      return item;
    }
    if (node.kind === 'run') {
      const r = node.record;
      const live = this.runs.liveByDir(node.dir);
      // The group already names the recipe: the label is the start time, the description the result.
      const item = new vscode.TreeItem(runLabel(r), vscode.TreeItemCollapsibleState.Collapsed);
      item.id = node.dir;
      item.iconPath = statusIcon[live ? 'running' : r.status] ?? statusIcon.failed;
      if (live) {
        const eta = live.etaSeconds !== undefined ? `, ETA ${Math.ceil(live.etaSeconds)} s` : '';
        item.description = live.total ? `${live.stage} ${live.done}/${live.total}${live.layer ? ` ${live.layer}` : ''}${eta}` : (live.stageLabel ?? 'starting');
      } else {
        item.description = r.status === 'succeeded' ? keyMetrics(r.metrics.compressed) : r.status;
      }
      // run.json is data from disk: every field goes in as text (escaped), never as markdown
      const tip = new vscode.MarkdownString();
      tip.appendMarkdown('**').appendText(r.id).appendMarkdown('** — ').appendText(r.status).appendMarkdown('\n\n').appendText(r.recipePath)
        .appendMarkdown('\n\n').appendText(`device: ${r.device}`);
      if (r.error) tip.appendMarkdown('\n\n').appendText(r.error);
      item.tooltip = tip;
      item.contextValue = `qrecipe.run.${live ? 'running' : r.status}`;
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
    item.tooltip = node.tooltip;
    return item;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}
