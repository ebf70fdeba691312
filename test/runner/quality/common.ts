// Runs a recipe through the bundled CLI (as the extension does) and returns its record.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunnerEvent, RunRecord } from '../../../language-server/core/protocol/runner';

export const ROOT = path.resolve(__dirname, '../../../..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

export function buildCli(): void {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'extension/scripts/esbuild.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

export function runRecipe(ws: string, name: string, text: string): RunRecord {
  const file = path.join(ws, `${name}.qrecipe`);
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [CLI, 'run', file, '--json-events'], { cwd: ws, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 28 });
  const events = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
  const start = events.find((e) => e.type === 'run-start');
  assert.equal(r.status, 0, `${name}: ${r.stdout.slice(-1500)}\n${r.stderr}`);
  assert.ok(start && start.type === 'run-start');
  return JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
}
