/**
 * The run store: one folder per run under `<workspace>/.qrecipe/runs/`, named `<time>-<recipe>`,
 * holding `run.json` (a RunRecord), `run.log`, the compressed model and exports. `run.json` is
 * always replaced atomically, so a reader sees either the previous or the next complete record.
 * A record still marked `running` whose process is gone (crash, `kill -9`) is reported as failed.
 */
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic';
import type { RunRecord } from '../protocol/runner';

export const RUN_FILE = 'run.json';
export const LOG_FILE = 'run.log';

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

function processAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads one run. A `running` record whose process no longer exists becomes `failed` (and, with
 * `repair`, is written back so that every reader agrees).
 */
export async function readRun(dir: string, opts: { repair?: boolean } = {}): Promise<RunRecord> {
  const file = path.join(dir, RUN_FILE);
  let record: RunRecord;
  try {
    record = JSON.parse(await fs.readFile(file, 'utf8')) as RunRecord;
  } catch (err) {
    throw new Error(`${file}: not a readable run record (${(err as Error).message})`);
  }
  if (record.status === 'running' && !processAlive(record.pid)) {
    record = { ...record, status: 'failed', error: record.error ?? 'the runner process ended without finishing (crashed or killed); see run.log' };
    if (opts.repair) await writeRecord(dir, record);
  }
  return record;
}

/** Every run under `root`, newest first; folders without a readable run.json are skipped. */
export async function listRuns(root: string, opts: { repair?: boolean } = {}): Promise<{ dir: string; record: RunRecord }[]> {
  if (!existsSync(root)) return [];
  const names = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const runs: { dir: string; record: RunRecord }[] = [];
  for (const name of names) {
    const dir = path.join(root, name);
    if (!existsSync(path.join(dir, RUN_FILE))) continue;
    try {
      runs.push({ dir, record: await readRun(dir, opts) });
    } catch {
      // A folder being created right now, or foreign: not a run.
    }
  }
  return runs.sort((a, b) => b.record.startedAt.localeCompare(a.record.startedAt));
}

/** Finds a run by id, unique id prefix, folder path or `latest`; a whole id wins over longer ids it prefixes. */
export async function findRun(root: string, key: string): Promise<{ dir: string; record: RunRecord }> {
  if (existsSync(path.join(key, RUN_FILE))) return { dir: path.resolve(key), record: await readRun(key) };
  const runs = await listRuns(root);
  if (key === 'latest' && runs.length) return runs[0];
  // two runs started in the same second are <id> and <id>-1: <id> names the first, not both
  const exact = runs.find((r) => r.record.id === key);
  if (exact) return exact;
  const hits = runs.filter((r) => r.record.id.startsWith(key));
  if (hits.length === 1) return hits[0];
  if (!hits.length) throw new Error(`no run '${key}' in ${root} (qrecipe runs lists them)`);
  throw new Error(`'${key}' matches ${hits.length} runs: ${hits.map((h) => h.record.id).join(', ')}`);
}

export async function deleteRun(dir: string): Promise<void> {
  if (!existsSync(path.join(dir, RUN_FILE))) throw new Error(`${dir} is not a run folder`);
  await fs.rm(dir, { recursive: true, force: true });
}

/** Synchronous read used by tree views that must not await. */
export function readRunSync(dir: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, RUN_FILE), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}
