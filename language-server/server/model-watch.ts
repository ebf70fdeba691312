/**
 * Watches the model files that open recipes name, so a model rewritten outside the editor (a new
 * export, a re-trained fixture) refreshes the layer inventory and the diagnostics even when the
 * client sends no file events. One watcher per path, dropped when no open recipe names it.
 */
import { watch, type FSWatcher } from 'node:fs';

export class ModelWatcher {
  private readonly watchers = new Map<string, { w: FSWatcher; timer?: ReturnType<typeof setTimeout> }>();
  constructor(private readonly onChange: (path: string) => void, private readonly delayMs = 300) {}

  /** Watches exactly `paths` (absolute model paths of the open recipes). */
  set(paths: Iterable<string>): void {
    const want = new Set(paths);
    for (const [p, e] of this.watchers) if (!want.has(p)) { e.w.close(); clearTimeout(e.timer); this.watchers.delete(p); }
    for (const p of want) {
      if (this.watchers.has(p)) continue;
      try {
        const entry: { w: FSWatcher; timer?: ReturnType<typeof setTimeout> } = { w: watch(p, { persistent: false }, () => {
          clearTimeout(entry.timer);
          entry.timer = setTimeout(() => this.onChange(p), this.delayMs);
        }) };
        entry.w.on('error', () => { entry.w.close(); this.watchers.delete(p); });
        this.watchers.set(p, entry);
      } catch { /* missing file or no watch support: the mtime check on the next analysis still applies */ }
    }
  }

  dispose(): void { this.set([]); }
}
