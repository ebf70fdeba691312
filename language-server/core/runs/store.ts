/**
 * The run store: one folder per run under `<workspace>/.qrecipe/runs/`, named `<time>-<recipe>`,
 * holding `run.json` (a RunRecord), `run.log`, the compressed model and exports. `run.json` is
 * always replaced atomically, so a reader sees either the previous or the next complete record.
 * Every record is validated on read (record-schema.ts): a broken one (not JSON, wrong types, a
 * special file, too big) is listed as broken with its reason and never hides or breaks the others.
 * A record still marked `running` whose process is gone (crash, `kill -9`) — or whose pid now
 * belongs to another process (same pid, other start time) — is reported as failed.
 */
import { pushAll } from '../util/arrays';
import { promises as fs, existsSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sweepStaleTemps, writeFileAtomic } from '../util/atomic';
import type { RunRecord } from '../protocol/runner';
import { validateRecord } from './record-schema';
import { isSameProcess } from '../util/process';
import { storeOutsideWorkspace } from '../util/confine';
import { readRegularFile, RefusedFileError } from '../util/regular-file';
import { MAX_RUN_RECORD_BYTES } from '../util/limits';

/** A run folder whose record cannot be used, and why (shown as such by `qrecipe runs` and the Runs view). */
export interface BrokenRun { dir: string; id: string; reason: string }
/** A run folder with its valid record. */
export interface StoredRun { dir: string; record: RunRecord }

/** Thrown by readRun for a record that cannot be used; `reason` says what is wrong with it. */
export class BrokenRunError extends Error {
  constructor(readonly dir: string, readonly reason: string) {
    super(`${path.join(dir, RUN_FILE)}: ${reason}`);
    this.name = 'BrokenRunError';
  }
}

export const RUN_FILE = 'run.json';
export const LOG_FILE = 'run.log';
/** Folder of a run's scratch files, removed when the run ends (and by `sweepStore` after a crash). */
export const SCRATCH_DIR = '.scratch';
/** Folder of a run's own copies of its exports: `exports/<k>/<name>` (written there, then copied out). */
export const EXPORTS_DIR = 'exports';

/** `<workspace>/.qrecipe/runs` unless a runs folder is configured (relative to the workspace). */
export function runsRoot(workspace: string, configured = '.qrecipe/runs'): string {
  return path.resolve(workspace, configured);
}

/** A new, empty run folder: `20261123-013512-quickstart` (a suffix keeps names unique). */
export async function createRunDir(root: string, recipePath: string, now = new Date()): Promise<{ id: string; dir: string }> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = `${stamp}-${path.basename(recipePath).replace(/\.qrecipe$/, '').replace(/[^A-Za-z0-9._-]/g, '_')}`;
  await fs.mkdir(root, { recursive: true });
  for (let i = 0; ; i++) {
    const id = i ? `${base}-${i}` : base;
    const dir = path.join(root, id);
    try {
      await fs.mkdir(dir);
      return { id, dir };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function writeRecord(dir: string, record: RunRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, RUN_FILE), JSON.stringify(record, null, 2) + '\n');
}

/** The record's text parsed and validated; BrokenRunError says why it cannot be used. */
function parseRecord(dir: string, text: string): RunRecord {
  if (!text.trim()) throw new BrokenRunError(dir, 'run.json is empty (the disk may have been full when it was written)');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BrokenRunError(dir, `run.json is not valid JSON (${(err as Error).message})`);
  }
  const v = validateRecord(value);
  if ('problem' in v) throw new BrokenRunError(dir, `run.json does not hold a run record: ${v.problem}`);
  return v.record;
}

/**
 * The folder names the run: a record whose `id` says otherwise (a copied or renamed folder, a
 * hand-edited or crafted record) is read under its folder's name, so two folders never claim one id
 * (the Runs view keys its rows by id) and an id never carries a path or markup from the file.
 */
function ownId(dir: string, record: RunRecord): RunRecord {
  const name = path.basename(dir);
  return record.id === name ? record : { ...record, id: name };
}

/** A `running` record whose runner is gone (or whose pid is now another process) reads as failed. */
function settle(record: RunRecord): RunRecord {
  if (record.status !== 'running' || isSameProcess(record.pid, record.pidStart, Date.parse(record.startedAt))) return record;
  return { ...record, status: 'failed', error: record.error ?? 'the runner process ended without finishing (crashed or killed); see run.log' };
}

/**
 * Reads one run. A `running` record whose process no longer exists becomes `failed` (and, with
 * `repair`, is written back so that every reader agrees, unless the folder is reached through a
 * link out of the workspace: then it only reads as failed, see `linkedOut`). Throws BrokenRunError for a record that
 * cannot be read or does not validate.
 */
export async function readRun(dir: string, opts: { repair?: boolean } = {}): Promise<RunRecord> {
  const file = path.join(dir, RUN_FILE);
  let text: string;
  try {
    text = new TextDecoder().decode(await readRegularFile(file, MAX_RUN_RECORD_BYTES, 'run record'));
  } catch (err) {
    if (err instanceof RefusedFileError) throw new BrokenRunError(dir, err.reason);
    throw new BrokenRunError(dir, `run.json cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const record = ownId(dir, parseRecord(dir, text));
  const settled = settle(record);
  if (settled !== record && opts.repair && !linkedOut(dir)) await writeRecord(dir, settled);
  return settled;
}

/**
 * Why nothing may be written in run folder `dir` (issue 20 #1, as the sweep and the runner rule):
 * the folder is a link, or a link in its path (`.qrecipe`, `.qrecipe/runs`) leads out of the
 * workspace. Undefined when it may be written. A store named by the user (`--runs DIR`, not under
 * a `.qrecipe`) is the user's choice.
 */
export function linkedOut(dir: string): string | undefined {
  try {
    if (lstatSync(dir).isSymbolicLink()) return `the run folder ${dir} is a link`;
  } catch {
    return `the run folder ${dir} cannot be read`;
  }
  return storeOutsideWorkspace(dir)?.message;
}

/**
 * Every run folder under `root` (a folder holding run.json): valid runs newest first, and the broken
 * ones with their reason. One bad record never hides or breaks the others.
 */
export async function scanRuns(root: string, opts: { repair?: boolean } = {}): Promise<{ runs: StoredRun[]; broken: BrokenRun[] }> {
  if (!existsSync(root)) return { runs: [], broken: [] };
  const names = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const runs: StoredRun[] = [];
  const broken: BrokenRun[] = [];
  for (const name of names) {
    const dir = path.join(root, name);
    if (!existsSync(path.join(dir, RUN_FILE))) continue; // being created right now, or not a run folder
    try {
      runs.push({ dir, record: await readRun(dir, opts) });
    } catch (err) {
      if (err instanceof BrokenRunError) broken.push({ dir, id: name, reason: err.reason });
      else broken.push({ dir, id: name, reason: (err as Error).message });
    }
  }
  runs.sort((a, b) => (a.record.startedAt < b.record.startedAt ? 1 : a.record.startedAt > b.record.startedAt ? -1 : a.record.id < b.record.id ? 1 : -1));
  broken.sort((a, b) => (a.id < b.id ? 1 : -1));
  return { runs, broken };
}

/**
 * What a killed runner leaves behind, removed at the next start: temp files of dead processes in
 * the run folders, and the scratch folder of every run that is no longer running. Never throws.
 */
export async function sweepStore(root: string): Promise<string[]> {
  const removed: string[] = [];
  // never through a link planted in the workspace: the sweep would run wherever it points
  if (storeOutsideWorkspace(root)) return removed;
  let names: string[];
  try { names = readdirSync(root); } catch { return removed; }
  for (const name of names) {
    const dir = path.join(root, name);
    pushAll(removed, sweepStaleTemps(dir));
    // and in the run's export folders (a kill during an export leaves its temp file there)
    for (const k of realSubfolders(path.join(dir, EXPORTS_DIR))) pushAll(removed, sweepStaleTemps(path.join(dir, EXPORTS_DIR, k)));
    const scratch = path.join(dir, SCRATCH_DIR);
    // only a run's own scratch folder (a folder without run.json is not a run of this store)
    if (!existsSync(scratch) || !existsSync(path.join(dir, RUN_FILE))) continue;
    let running = false;
    try { running = (await readRun(dir)).status === 'running'; } catch { /* broken: its runner is gone too */ }
    if (!running) { rmSync(scratch, { recursive: true, force: true }); removed.push(scratch); }
  }
  return removed;
}

/** The names of the real folders (no links) in `dir`; none when `dir` is not a real folder. */
function realSubfolders(dir: string): string[] {
  try {
    if (!lstatSync(dir).isDirectory()) return [];
    return readdirSync(dir).filter((n) => lstatSync(path.join(dir, n)).isDirectory());
  } catch {
    return [];
  }
}

/** Every valid run under `root`, newest first (scanRuns also returns the broken ones). */
export async function listRuns(root: string, opts: { repair?: boolean } = {}): Promise<StoredRun[]> {
  return (await scanRuns(root, opts)).runs;
}

/** Finds a run by id, unique id prefix, folder path or `latest`; a whole id wins over longer ids it prefixes. */
export async function findRun(root: string, key: string): Promise<StoredRun> {
  if (existsSync(path.join(key, RUN_FILE))) return { dir: path.resolve(key), record: await readRun(key) };
  const { runs, broken } = await scanRuns(root);
  if (key === 'latest' && runs.length) return runs[0]!;
  // two runs started in the same second are <id> and <id>-1: <id> names the first, not both
  const exact = runs.find((r) => r.record.id === key);
  if (exact) return exact;
  const bad = broken.find((b) => b.id === key);
  if (bad) throw new BrokenRunError(bad.dir, bad.reason);
  const hits = runs.filter((r) => r.record.id.startsWith(key));
  if (hits.length === 1) return hits[0]!;
  if (!hits.length) {
    const badHits = broken.filter((b) => b.id.startsWith(key));
    if (badHits.length === 1) throw new BrokenRunError(badHits[0]!.dir, badHits[0]!.reason);
    throw new Error(`no run '${key}' in ${root} (qrecipe runs lists them)`);
  }
  throw new Error(`'${key}' matches ${hits.length} runs: ${hits.map((h) => h.record.id).join(', ')}`);
}

export async function deleteRun(dir: string): Promise<void> {
  if (!existsSync(path.join(dir, RUN_FILE))) throw new Error(`${dir} is not a run folder`);
  await fs.rm(dir, { recursive: true, force: true });
}
