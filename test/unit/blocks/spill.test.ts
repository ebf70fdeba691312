// Spilling to the scratch folder (engine/blocks/spill.ts, activations.ts): a disk that cannot take
// the bytes fails with the folder and its free space, whether found before writing (too little
// free space) or by the write itself (ENOSPC, from /dev/full); closing removes the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ActivationCache, ScratchSpaceError } from '../../../extension/runner/engine/blocks/activations';
import { SpillFile } from '../../../extension/runner/engine/blocks/spill';
import { tempDir } from '../model/helpers';

test('a write that finds the disk full (ENOSPC) fails naming the folder and its free space', async (t) => {
  if (!existsSync('/dev/full')) { t.skip('no /dev/full'); return; }
  const dir = path.join(tempDir(), '.scratch');
  mkdirSync(dir);
  symlinkSync('/dev/full', path.join(dir, 'activations.bin'));
  const cache = new ActivationCache(dir, 0);
  const x = new ort.Tensor('float32', new Float32Array(1024), [1, 1024]);
  await assert.rejects(cache.put(0, 'h', x), (err: Error) => {
    assert.ok(err instanceof ScratchSpaceError, String(err));
    assert.match(err.message, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no room to spill calibration activations \\(4\\.0 KiB needed, .+ free\\): ENOSPC`));
    return true;
  });
  await cache.dispose();
  assert.ok(!existsSync(path.join(dir, 'activations.bin')), 'the spill file is removed');
});

test('too little free space is found before the file grows', async () => {
  const dir = path.join(tempDir(), '.scratch');
  const file = new SpillFile(dir, 'weights.bin', 'compressed weights', async () => 10 * 1048576);
  await assert.rejects(file.write(new Uint8Array(1 << 20)), /no room to spill compressed weights \(1\.00 MiB needed, 10\.00 MiB free\)/);
  assert.ok(!existsSync(file.path), 'nothing was written');
  await file.close();
});

test('spilled blobs read back; freed slots are reused', async () => {
  const dir = path.join(tempDir(), '.scratch');
  const file = new SpillFile(dir, 'x.bin', 'test data');
  const a = await file.write(Uint8Array.from([1, 2, 3, 4]));
  const b = await file.write(Uint8Array.from([5, 6, 7, 8]));
  file.release(a);
  const c = await file.write(Uint8Array.from([9, 9, 9, 9]));
  assert.deepEqual(c, a);
  assert.deepEqual(await file.read(b), Uint8Array.from([5, 6, 7, 8]));
  assert.deepEqual(await file.read(c), Uint8Array.from([9, 9, 9, 9]));
  assert.equal(file.size, 8);
  await file.close();
  assert.ok(!existsSync(file.path));
});
