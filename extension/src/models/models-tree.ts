// The Models tree: ONNX models of the workspace and, under each, its layer inventory with sizes.
// Inventories are read lazily (on expand) and cached until the file changes.
import * as vscode from 'vscode';
import path from 'node:path';
import { readInventory } from '../../../language-server/core/model/inventory';
import type { LayerInfo, ModelInventory } from '../../../language-server/core/model/types';
import { formatBytes } from '../../../language-server/core/util/format';

export type ModelsNode =
  | { kind: 'model'; uri: vscode.Uri }
  | { kind: 'layer'; model: vscode.Uri; layer: LayerInfo }
  | { kind: 'error'; message: string };

export class ModelsTree implements vscode.TreeDataProvider<ModelsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ModelsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly cache = new Map<string, Promise<ModelInventory>>();
  private readonly watcher = vscode.workspace.createFileSystemWatcher('**/*.onnx');

  constructor() {
    const reset = (uri: vscode.Uri) => {
      this.cache.delete(uri.fsPath);
      this.changed.fire(undefined);
    };
    this.watcher.onDidCreate(reset);
    this.watcher.onDidChange(reset);
    this.watcher.onDidDelete(reset);
  }

  inventory(uri: vscode.Uri): Promise<ModelInventory> {
    let p = this.cache.get(uri.fsPath);
    if (!p) {
      p = readInventory(uri.fsPath);
      this.cache.set(uri.fsPath, p);
      p.catch(() => this.cache.delete(uri.fsPath));
    }
    return p;
  }

  async getChildren(node?: ModelsNode): Promise<ModelsNode[]> {
    if (!node) {
      const files = await vscode.workspace.findFiles('**/*.onnx', '{**/node_modules/**,**/.qrecipe/**,**/.tools/**}', 200);
      return files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).map((uri) => ({ kind: 'model', uri }));
    }
    if (node.kind !== 'model') return [];
    try {
      const inv = await this.inventory(node.uri);
      return inv.layers.map((layer) => ({ kind: 'layer', model: node.uri, layer }));
    } catch (err) {
      return [{ kind: 'error', message: (err as Error).message }];
    }
  }

  getTreeItem(node: ModelsNode): vscode.TreeItem {
    if (node.kind === 'model') {
      const item = new vscode.TreeItem(path.basename(node.uri.fsPath), vscode.TreeItemCollapsibleState.Collapsed);
      item.description = vscode.workspace.asRelativePath(path.dirname(node.uri.fsPath));
      item.resourceUri = node.uri;
      item.iconPath = new vscode.ThemeIcon('circuit-board');
      item.contextValue = 'qrecipe.model';
      item.tooltip = node.uri.fsPath;
      void this.inventory(node.uri).then((inv) => {
        item.description = `${inv.layers.length} layers · ${formatBytes(inv.totalBytes)}`;
      }, () => undefined);
      return item;
    }
    if (node.kind === 'layer') {
      const l = node.layer;
      const item = new vscode.TreeItem(l.name, vscode.TreeItemCollapsibleState.None);
      item.description = `${l.op} ${l.rows}×${l.cols} · ${formatBytes(l.bytes)}${l.sharedWith?.length ? ' · tied' : ''}`;
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
    const item = new vscode.TreeItem(node.message, vscode.TreeItemCollapsibleState.None);
    item.iconPath = new vscode.ThemeIcon('warning');
    return item;
  }

  dispose(): void {
    this.watcher.dispose();
    this.changed.dispose();
  }
}
