// The Models tree: ONNX models of the workspace and, under each, what it holds: its float layers, or
// the quantised layers of a compressed export (encoding, bits, group, size) and where it came from
// (source model, recipe, run). The language server reads the files (qrecipe/modelSummary); summaries
// are cached until the file changes.
import * as vscode from 'vscode';
import path from 'node:path';
import type { Ctx } from '../ctx';
import { request } from '../lsp';
import { modelSummary } from '../../../language-server/core/protocol/lsp';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { provenanceOf, summaryLine, type ModelSummary, type QuantizedLayerInfo } from '../../../language-server/core/model/summary';
import { formatBytes } from '../../../language-server/core/format/numbers';
import { EXCLUDE } from './model-commands';

export type ModelsNode =
  | { kind: 'model'; uri: vscode.Uri }
  | { kind: 'layer'; model: vscode.Uri; layer: LayerInfo }
  | { kind: 'quantized'; model: vscode.Uri; layer: QuantizedLayerInfo }
  | { kind: 'provenance'; label: string; value: string }
  | { kind: 'error'; message: string };

export class ModelsTree implements vscode.TreeDataProvider<ModelsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ModelsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly cache = new Map<string, Promise<ModelSummary>>();
  /** Summaries already answered, for getTreeItem (which must not wait). */
  private readonly known = new Map<string, ModelSummary>();
  /** One node object per model file (a row is repainted by identity). */
  private readonly nodes = new Map<string, Extract<ModelsNode, { kind: 'model' }>>();
  private readonly watcher = vscode.workspace.createFileSystemWatcher('**/*.onnx');

  constructor(private readonly ctx: Ctx) {
    const reset = (uri: vscode.Uri): void => {
      this.cache.delete(uri.fsPath);
      this.known.delete(uri.fsPath);
      this.changed.fire(undefined);
    };
    this.watcher.onDidCreate(reset);
    this.watcher.onDidChange(reset);
    this.watcher.onDidDelete(reset);
  }

  summary(uri: vscode.Uri): Promise<ModelSummary> {
    let p = this.cache.get(uri.fsPath);
    if (!p) {
      p = request(this.ctx, modelSummary, { path: uri.fsPath }).then((r) => {
        if ('error' in r) throw new Error(r.error);
        this.known.set(uri.fsPath, r.summary);
        return r.summary;
      });
      this.cache.set(uri.fsPath, p);
      p.catch(() => this.cache.delete(uri.fsPath));
    }
    return p;
  }

  async getChildren(node?: ModelsNode): Promise<ModelsNode[]> {
    if (!node) {
      const files = await vscode.workspace.findFiles('**/*.onnx', EXCLUDE, 200);
      return files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).map((uri) => {
        let n = this.nodes.get(uri.fsPath);
        if (!n) { n = { kind: 'model', uri }; this.nodes.set(uri.fsPath, n); }
        return n;
      });
    }
    if (node.kind !== 'model') return [];
    try {
      const s = await this.summary(node.uri);
      return [
        ...provenanceOf(s).map((p): ModelsNode => ({ kind: 'provenance', ...p })),
        ...s.quantized.map((layer): ModelsNode => ({ kind: 'quantized', model: node.uri, layer })),
        ...s.layers.map((layer): ModelsNode => ({ kind: 'layer', model: node.uri, layer })),
      ];
    } catch (err) {
      return [{ kind: 'error', message: (err as Error).message }];
    }
  }

  getTreeItem(node: ModelsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'model': {
        const item = new vscode.TreeItem(path.basename(node.uri.fsPath), vscode.TreeItemCollapsibleState.Collapsed);
        item.description = vscode.workspace.asRelativePath(path.dirname(node.uri.fsPath));
        item.resourceUri = node.uri;
        item.iconPath = new vscode.ThemeIcon('circuit-board');
        item.contextValue = 'qrecipe.model';
        item.tooltip = node.uri.fsPath;
        const s = this.known.get(node.uri.fsPath);
        if (s) {
          // a compressed export says so at a glance: "28 quantised layers (4-bit) · 2 float layers · 1.41 MiB"
          item.description = summaryLine(s);
          const prov = provenanceOf(s);
          item.tooltip = new vscode.MarkdownString([`**${path.basename(node.uri.fsPath)}**`, node.uri.fsPath, summaryLine(s), ...prov.map((p) => `${p.label}: \`${p.value}\``)].join('\n\n'));
          if (s.quantized.length) item.iconPath = new vscode.ThemeIcon('package');
        } else {
          // repaint this row once the server has answered
          void this.summary(node.uri).then(() => this.changed.fire(node), () => undefined);
        }
        return item;
      }
      case 'quantized': {
        const l = node.layer;
        const item = new vscode.TreeItem(l.name, vscode.TreeItemCollapsibleState.None);
        item.description = `${l.bits}-bit ${l.group === 'channel' ? 'per channel' : `g${l.group}`} · ${l.rows}×${l.cols} · ${formatBytes(l.bytes)}`;
        const slots = l.storedBits !== l.bits ? ` stored in ${l.storedBits}-bit slots` : '';
        const groups = l.group === 'channel' ? 'one scale per output channel' : `groups of ${l.group} columns`;
        const bpw = ((8 * l.bytes) / Math.max(1, l.params)).toFixed(2);
        item.tooltip = [`${l.name}`, `${l.encoding}: ${l.bits}-bit codes${slots}, ${groups}`,
          `${l.params.toLocaleString()} weights in ${formatBytes(l.bytes)} (${bpw} bits per weight with scales)`, `node ${l.nodeName}`].join('\n');
        item.iconPath = new vscode.ThemeIcon('symbol-number');
        item.contextValue = 'qrecipe.layer';
        return item;
      }
      case 'layer': {
        const l = node.layer;
        const item = new vscode.TreeItem(l.name, vscode.TreeItemCollapsibleState.None);
        item.description = `${l.op} ${l.rows}×${l.cols} · ${l.dtype} · ${formatBytes(l.bytes)}${l.sharedWith?.length ? ' · tied' : ''}`;
        item.tooltip = [
          l.name, `${l.op} ${l.dtype} [${l.shape.join(', ')}]`, `${l.params.toLocaleString()} parameters, ${formatBytes(l.bytes)}`,
          `tensor ${l.tensorName}, node ${l.nodeName}`,
          ...(l.sharedWith?.length ? [`tied to ${l.sharedWith.join(', ')}: one stored weight, counted once`] : []),
          ...(l.aliases?.length ? [`patterns also match it as ${l.aliases.join(', ')}`] : []),
        ].join('\n');
        item.iconPath = new vscode.ThemeIcon(l.op === 'Conv' ? 'symbol-array' : l.op === 'Gather' ? 'symbol-key' : 'symbol-field');
        item.contextValue = 'qrecipe.layer';
        return item;
      }
      case 'provenance': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.description = node.label === 'source model' || node.label === 'recipe' ? vscode.workspace.asRelativePath(node.value) : node.value;
        item.tooltip = node.value;
        item.iconPath = new vscode.ThemeIcon('info');
        if (node.label === 'source model' || node.label === 'recipe') item.command = { command: node.label === 'recipe' ? 'vscode.open' : 'qrecipe.inspectModel', title: 'Open', arguments: [vscode.Uri.file(node.value)] };
        return item;
      }
      default: {
        const item = new vscode.TreeItem(node.message, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon('warning');
        return item;
      }
    }
  }

  dispose(): void {
    this.watcher.dispose();
    this.changed.dispose();
  }
}
