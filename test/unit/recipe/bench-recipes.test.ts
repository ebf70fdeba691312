// The benchmark recipes (test/bench/*.qrecipe) pass `qrecipe check` without errors against their
// real models: a bench must not run, or be documented with, a recipe the checker refuses (the PP-OCRv4
// sensitivity recipe asked for a 4-bit average the default export format cannot store, QR206).
// Uses the built CLI (dist/cli.js), like the other CLI checks of this suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');
const BENCH = path.join(ROOT, 'test/bench');

test('every test/bench recipe passes qrecipe check (no errors)', () => {
  const recipes = readdirSync(BENCH).filter((f) => f.endsWith('.qrecipe'));
  assert.ok(recipes.length >= 2);
  for (const f of recipes) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'check', f], { cwd: BENCH, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${f}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr + r.stdout, /0 errors/, f);
  }
});
