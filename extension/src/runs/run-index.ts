// The run store as the extension host keeps it: one cached record per run folder, re-read only when
// its run.json changes (mtime or size), so a repaint of the Runs view reads no file. Listing a
// runs folder reads only the records that are new or changed since the last listing.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BrokenRunError, readRun, RUN_FILE, type BrokenRun } from '../../../language-server/core/runs/store';
import type { RunRecord } from '../../../language-server/core/protocol/runner';

export interface RunEntry {
  dir: string;
  record: RunRecord;
}

interface Cached extends RunEntry {
  mtimeMs: number;
  size: number;
}

export class RunIndex {
  private readonly cache = new Map<string, Cached>();
  /** Run folders whose run.json cannot be used, with the reason (the Runs view lists them apart). */
  private readonly brokenDirs = new Map<string, BrokenRun>();
  /** Reads of run.json since creation (tests check that a repaint reads none). */
  reads = 0;

  /** The runs under `roots`, newest first; unchanged records come from the cache. */
  async list(roots: string[]): Promise<RunEntry[]> {
    const out: RunEntry[] = [];
    const present = new Set<string>();
    for (const root of roots) {
      let names: string[];
      try {
        names = await fs.readdir(root);
      } catch {
        continue; // no runs yet
      }
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const dir = path.join(root, name);
        const e = await this.entry(dir);
        if (e) { out.push(e); present.add(dir); }
        if (this.brokenDirs.has(dir)) present.add(dir);
      }
    }
    for (const dir of [...this.cache.keys()]) if (roots.some((r) => dir.startsWith(r + path.sep)) && !present.has(dir)) this.cache.delete(dir);
    for (const dir of [...this.brokenDirs.keys()]) if (roots.some((r) => dir.startsWith(r + path.sep)) && !present.has(dir)) this.brokenDirs.delete(dir);
    return out.sort((a, b) => b.record.startedAt.localeCompare(a.record.startedAt));
  }

  /** The record of one run folder, re-read when its run.json changed; undefined when it is not a run (any more). */
  async entry(dir: string): Promise<RunEntry | undefined> {
    let st;
    try {
      st = await fs.stat(path.join(dir, RUN_FILE));
    } catch {
      this.cache.delete(dir);
      this.brokenDirs.delete(dir);
      return undefined;
    }
    const hit = this.cache.get(dir);
    // a record still `running` is read again: its process may have died without a word (kill -9)
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.record.status !== 'running') return hit;
    try {
      this.reads++;
      const record = await readRun(dir);
      const e: Cached = { dir, record, mtimeMs: st.mtimeMs, size: st.size };
      this.cache.set(dir, e);
      this.brokenDirs.delete(dir);
      return e;
    } catch (err) {
      this.cache.delete(dir);
      // a record that does not validate is shown as broken with its reason, never hidden
      if (err instanceof BrokenRunError) this.brokenDirs.set(dir, { dir, id: path.basename(dir), reason: err.reason });
      return undefined;
    }
  }

  /** The broken run folders under `roots` found by the last `list`. */
  broken(roots: string[]): BrokenRun[] {
    return [...this.brokenDirs.values()].filter((b) => roots.some((r) => b.dir.startsWith(r + path.sep))).sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  /** The cached record of a folder, without touching the disk. */
  cached(dir: string): RunEntry | undefined {
    return this.cache.get(dir);
  }

  forget(dir: string): void {
    this.cache.delete(dir);
  }
}
