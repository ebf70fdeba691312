/** Atomic file writes: everything is written to a temp file in the target folder, then renamed. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

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
