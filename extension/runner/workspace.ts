// Where a recipe's run store lives: the nearest folder above the recipe holding `.git`,
// `package.json` or `.qrecipe` is its workspace, and runs go to `<workspace>/.qrecipe/runs`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runsRoot } from '../../language-server/core/runs/store';

const MARKERS = ['.qrecipe', '.git', 'package.json'];

/** The workspace folder of a file or folder (its own folder when no marker is found above it). */
export function workspaceOf(start: string): string {
  const abs = path.resolve(start);
  const first = existsSync(abs) && !abs.endsWith('.qrecipe') ? abs : path.dirname(abs);
  for (let dir = first; ; dir = path.dirname(dir)) {
    if (MARKERS.some((m) => existsSync(path.join(dir, m)))) return dir;
    if (path.dirname(dir) === dir) return first;
  }
}

/** The runs folder: `--runs DIR` when given (relative to the current folder), else the workspace's. */
export function resolveRunsRoot(opts: { runs?: string; recipe?: string; cwd?: string }): string {
  if (opts.runs) return path.resolve(opts.cwd ?? process.cwd(), opts.runs);
  return runsRoot(workspaceOf(opts.recipe ?? opts.cwd ?? process.cwd()));
}
