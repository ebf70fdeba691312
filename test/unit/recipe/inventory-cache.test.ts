// The inventory cache reads a model once per (path, mtime, size) and again after the file changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, utimesSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InventoryCache } from '../../../language-server/core/recipe/inventory-cache';
import { tinyLm } from './synthetic';

test('cached per path and mtime, refreshed when the file changes, errors passed through', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-inv-'));
  try {
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, 'x');
    let reads = 0;
    const cache = new InventoryCache(async (p) => { reads++; return tinyLm(reads, [], p); });
    const a = await cache.get(file);
    const b = await cache.get(file);
    assert.equal(reads, 1);
    assert.equal(a, b);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const c = await cache.get(file);
    assert.equal(reads, 2);
    assert.ok(!(c instanceof Error) && c.layers.length > (a as { layers: unknown[] }).layers.length);
    const missing = await cache.get(path.join(dir, 'nope.onnx'));
    assert.ok(missing instanceof Error);
    const failing = new InventoryCache(async () => { throw new Error('bad model'); });
    const e = await failing.get(file);
    assert.ok(e instanceof Error && e.message === 'bad model');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
