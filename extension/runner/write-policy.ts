// Where the runner may write for a recipe or a run (issue 20 #1; core/util/confine.ts decides): the
// workspace — the recipe's folder for `run`, the current folder for `export`, or `--workspace DIR`
// (what the extension passes: its workspace folder) —, never the inputs or the run store, outside
// only with `--allow-outside`. An existing file at an export path is the export's own rule
// (`--force`, QR401: pipeline/export-stage.ts), so the callers pass `force: true` here.
import path from 'node:path';
import { blocking, checkWrite, type WritePolicy, type WriteProblem } from '../../language-server/core/util/confine';
import type { ParsedArgs } from './args';

export interface WriteOptions {
  /** The workspace folder writes are confined to (default: the command's own, see above). */
  workspace?: string;
  allowOutside: boolean;
  force: boolean;
}

/** The flags, for the commands' help texts. */
export const WRITE_FLAGS_HELP = `  --workspace DIR  writes must stay inside DIR (default: the recipe's folder; for export, the current folder)
  --allow-outside  allow writing outside the workspace`;
export const WRITE_FLAGS = ['allow-outside', 'force'];

export function writeOptions(a: ParsedArgs): WriteOptions {
  const ws = a.options.get('workspace');
  return { ...(ws ? { workspace: path.resolve(ws) } : {}), allowOutside: a.flags.has('allow-outside'), force: a.flags.has('force') };
}

/** The policy of one run or export. */
export async function writePolicy(o: { root: string; inputs: string[]; runsRoot: string }): Promise<WritePolicy> {
  return { root: o.root, protectedFiles: o.inputs, protectedDirs: [o.runsRoot] };
}

/** The problems writing `target` that the user has not allowed. */
export function refusedWrites(target: string, policy: WritePolicy, opts: WriteOptions, what = 'the export'): WriteProblem[] {
  return blocking(checkWrite(target, policy, what), opts);
}

/** One sentence per problem, with the way to allow it. */
export function explain(p: WriteProblem): string {
  if (p.kind === 'outside') return `${p.message}; pass --allow-outside to write there`;
  if (p.kind === 'exists') return `${p.message}; pass --force to replace it`;
  return p.message;
}
