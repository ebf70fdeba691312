/**
 * Atomic file writes: everything is written to a temp file in the target folder, then renamed. A
 * process killed mid-write (kill -9) leaves its temp file behind; `sweepStaleTemps` removes those of
 * processes that are gone, at the next start (issue 20, point 7).
 */
import { promises as fs, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { processAlive, processStartedAt } from './process';

/** A temp path beside `target` (same folder, so the final rename cannot cross file systems). */
export function tempPathFor(target: string): string {
  const rnd = Math.random().toString(36).slice(2, 8);
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${rnd}.tmp`);
}

/**
 * Runs `write(tempPath)` and renames the temp file onto `target`; on any failure the temp file is
 * removed and `target` is left as it was.
 */
export async function writeAtomically(target: string, write: (tempPath: string) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await write(tmp);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a whole buffer or string atomically. */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  await writeAtomically(target, (tmp) => fs.writeFile(tmp, data));
}

/** `.NAME.PID.RND.tmp`, as tempPathFor names them. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.([a-z0-9]{1,8})\.tmp$/;

/**
 * Removes the temp files in `dir` left by processes that no longer exist (or whose pid now belongs
 * to a process started after the file was last written). Returns the paths removed; never throws.
 */
export function sweepStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return removed; }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    const file = path.join(dir, name);
    try {
      const st = statSync(file);
      const started = processAlive(pid) ? processStartedAt(pid) : -Infinity;
      const stale = started === -Infinity || (started !== undefined && started > st.mtimeMs + 1000);
      if (stale && pid !== process.pid) { rmSync(file, { recursive: true, force: true }); removed.push(file); }
    } catch {
      // gone meanwhile, or not ours to remove: leave it
    }
  }
  return removed;
}
