/**
 * Where a run, an export or an analysis may write (issue 20, point 1). A recipe or a run record is
 * untrusted: `export onnx-fakequant "/home/me/.bashrc"` must not replace a file. Every path QRecipe
 * writes for a recipe or a run is resolved as the system will resolve it (links in the existing part
 * of the path followed) and checked against a policy:
 * - `protected`: never written, whatever the user says: the input model and its side files, the
 *   recipe and its imports, anything inside the run store;
 * - `outside`: outside the workspace folder (the recipe's folder for the CLI): only when the user
 *   confirms (VS Code) or passes `--allow-outside` (CLI);
 * - `exists`: an existing file is replaced only with confirmation or `--force`, unless it is an
 *   earlier export recorded in the run store (re-running a recipe replaces its own export).
 * The language server reports the same problems while typing (QR130, QR131, QR132), and warns of a
 * file already at an export path (QR401: the run stops there unless told to replace it).
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import path from 'node:path';

export interface WritePolicy {
  /** Writes go inside this folder: the workspace folder in VS Code, the recipe's folder for the CLI. */
  root: string;
  /** Files that are never written: the input model and its side files, the recipe and its imports. */
  protectedFiles: string[];
  /** Folders nothing is written into: the run store. */
  protectedDirs: string[];
  /** Existing files that may be replaced without asking: earlier exports recorded in the run store. */
  replaceable?: string[];
}

export type WriteProblemKind = 'protected' | 'outside' | 'exists';
export interface WriteProblem { kind: WriteProblemKind; target: string; resolved: string; message: string }

/** `p` with the links of its existing part resolved (the final component too when it is a link). */
export function resolveForWrite(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = realpathSync(cur);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      // a dangling link as the final part: write would go where it points; treat its text as unknown
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** Whether `p` is `dir` or inside it (both already resolved). */
export function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function exists(p: string): 'file' | 'folder' | 'link' | undefined {
  try {
    const st = lstatSync(p);
    return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'folder' : 'file';
  } catch {
    return undefined;
  }
}

/**
 * The problems of writing `target` under `policy` (empty: may write). `what` names the file in
 * messages ("the export").
 */
export function checkWrite(target: string, policy: WritePolicy, what = 'the output'): WriteProblem[] {
  const abs = path.resolve(target);
  const resolved = resolveForWrite(abs);
  const out: WriteProblem[] = [];
  const add = (kind: WriteProblemKind, message: string): void => { out.push({ kind, target: abs, resolved, message }); };
  const same = (f: string): boolean => resolveForWrite(f) === resolved || path.resolve(f) === abs;
  const hitFile = policy.protectedFiles.find(same);
  if (hitFile) add('protected', `${what} ${abs} would overwrite ${hitFile}, an input of this recipe; choose another path`);
  const hitDir = policy.protectedDirs.find((d) => isInside(resolved, resolveForWrite(d)) || isInside(abs, path.resolve(d)));
  if (hitDir && !hitFile) add('protected', `${what} ${abs} is inside the run store ${hitDir}, which only QRecipe writes; choose a path outside it`);
  if (out.length) return out;
  const root = resolveForWrite(policy.root);
  if (!isInside(resolved, root)) {
    add('outside', `${what} ${abs}${resolved !== abs ? ` (resolves to ${resolved})` : ''} is outside the workspace ${root}`);
  }
  const kind = exists(abs);
  if (kind === 'folder') add('protected', `${what} ${abs} is a folder`);
  else if (kind && !(policy.replaceable ?? []).some((r) => path.resolve(r) === abs || resolveForWrite(r) === resolved)) {
    add('exists', `${what} ${abs} already exists${kind === 'link' ? ' (a link)' : ''} and is not an earlier export of this workspace's runs`);
  }
  return out;
}

/** The problems left after what the user allowed (`allowOutside`, `force`); `protected` always stays. */
export function blocking(problems: WriteProblem[], allowed: { allowOutside?: boolean; force?: boolean }): WriteProblem[] {
  return problems.filter((p) => p.kind === 'protected' || (p.kind === 'outside' && !allowed.allowOutside) || (p.kind === 'exists' && !allowed.force));
}

/**
 * A run store that a link inside its workspace leads out of it (issue 20 #1): a downloaded workspace
 * whose `.qrecipe` (or `.qrecipe/runs`) is a link to `~` would have runs written, and the store's
 * sweep of stale temp files and scratch folders run, wherever it points. The store's workspace is
 * `workspace` when given (the extension's folder, `--workspace`), else the folder holding the
 * store's `.qrecipe`; a store elsewhere (`--runs DIR` named by the user) is the user's choice.
 * Returns the problem (kind `outside`: allowed only as other writes outside the workspace are).
 */
export function storeOutsideWorkspace(runsRoot: string, workspace?: string): WriteProblem | undefined {
  const abs = path.resolve(runsRoot);
  let ws = workspace ? path.resolve(workspace) : undefined;
  if (!ws) {
    const parts = abs.split(path.sep);
    const at = parts.lastIndexOf('.qrecipe');
    if (at <= 0) return undefined;
    ws = parts.slice(0, at).join(path.sep) || path.sep;
  }
  if (!isInside(abs, ws)) return undefined;
  const resolved = resolveForWrite(abs);
  const realWs = resolveForWrite(ws);
  if (isInside(resolved, realWs)) return undefined;
  return {
    kind: 'outside', target: abs, resolved,
    message: `the run store ${abs} resolves to ${resolved}, outside the workspace ${realWs}: a link inside the workspace leads out of it`,
  };
}

/**
 * The files at an export's requested path that writing it would replace: the model file and the
 * side file of its external data (`<name>.data`). A run or `qrecipe export` replaces them only
 * when told to (`--force`; VS Code asks first), QR401; the checker warns of them while typing.
 */
export function occupiedByExport(out: string): string[] {
  const file = path.resolve(out);
  return [file, `${file}.data`].filter((f) => existsSync(f));
}

/** The hint given wherever an existing file stops an export. */
export const FORCE_HINT = 'give --force to replace it (runs that wrote it keep their own copies in their run folders)';
