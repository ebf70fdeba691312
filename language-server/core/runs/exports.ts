/**
 * Whether the file at an export's path is still the one its run wrote: runs keep their own copy
 * (`runCopy`, in the run folder), and a later run or anything else may have replaced the file at
 * the requested path. Decided from the file's size and modification time against the record's
 * (cheap, for views; the record's sha256 is the exact identity, `qrecipe` can check it).
 */
import type { ExportRecord } from '../protocol/runner';

export type ExportState = 'current' | 'replaced' | 'missing';

/** The state of an export given the file now at its path (undefined: no file). */
export function exportState(e: ExportRecord, now: { size: number; mtimeMs: number } | undefined): ExportState {
  if (!now) return 'missing';
  if (now.size !== e.bytes - (e.externalBytes ?? 0) && now.size !== e.bytes) return 'replaced';
  return e.mtimeMs === undefined || Math.abs(now.mtimeMs - e.mtimeMs) < 1 ? 'current' : 'replaced';
}
