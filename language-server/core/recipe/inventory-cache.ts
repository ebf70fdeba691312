/**
 * Caches layer inventories per model path and modification time, so the language server reads a
 * model once and again only when the file changes. The reader is injected (the real one is
 * `readInventory` of core/model/inventory.ts).
 */
import { stat } from 'node:fs/promises';
import type { ModelInventory } from '../model/types';

export type InventoryReader = (path: string) => Promise<ModelInventory | Error>;

export class InventoryCache {
  private readonly entries = new Map<string, { mtimeMs: number; size: number; value: Promise<ModelInventory | Error> }>();
  constructor(private readonly reader: InventoryReader) {}

  /** The inventory of `path`, re-read when its mtime or size changed. */
  async get(path: string): Promise<ModelInventory | Error> {
    let st;
    try { st = await stat(path); } catch (e) { this.entries.delete(path); return e instanceof Error ? e : new Error(String(e)); }
    const hit = this.entries.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.value;
    const value = this.reader(path).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    this.entries.set(path, { mtimeMs: st.mtimeMs, size: st.size, value });
    return value;
  }

  /** Forgets a path (e.g. when a file watcher reports a change). */
  invalidate(path?: string): void {
    if (path === undefined) this.entries.clear();
    else this.entries.delete(path);
  }

  get provider(): InventoryReader { return (p) => this.get(p); }
}
