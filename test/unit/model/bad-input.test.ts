import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { readInventory } from '../../../language-server/core/model/inventory';
import { buildMlp, tempDir } from './helpers';

test('a truncated model names the file', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.onnx');
  await buildMlp(file).save(file);
  const cut = path.join(dir, 'cut.onnx');
  const bytes = readFileSync(file);
  writeFileSync(cut, new Uint8Array(bytes.subarray(0, Math.floor(bytes.length * 0.6))));
  await assert.rejects(readInventory(cut), (e: Error) => e.message.includes(cut) && /truncated|not a valid/.test(e.message));
});

test('a file that is not ONNX names the file', async () => {
  const dir = tempDir();
  const text = path.join(dir, 'notes.onnx');
  writeFileSync(text, 'this is a text file, not a model\n'.repeat(20));
  await assert.rejects(readInventory(text), (e: Error) => e.message.startsWith(text) && /not .*ONNX/.test(e.message));
  const empty = path.join(dir, 'empty.onnx');
  writeFileSync(empty, '');
  await assert.rejects(readInventory(empty), (e: Error) => e.message.includes(empty) && /empty/.test(e.message));
  await assert.rejects(readInventory(path.join(dir, 'absent.onnx')), /absent\.onnx: cannot read model file \(ENOENT\)/);
});

test('a missing or short external-data file names both files', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'ext.onnx');
  await buildMlp(file).save(file, { externalData: true, externalThreshold: 64 });
  const data = path.join(dir, 'ext.onnx.data');
  const bytes = readFileSync(data);
  writeFileSync(data, new Uint8Array(bytes.subarray(0, 100)));
  await assert.rejects(readInventory(file), (e: Error) => e.message.includes(file) && e.message.includes(data) && /too short/.test(e.message));
  rmSync(data);
  await assert.rejects(readInventory(file), (e: Error) => e.message.includes(file) && e.message.includes(data) && /missing/.test(e.message));
});

test('qrecipe inspect: exit code 1 and one clear line for a bad file, no output file', () => {
  const dir = tempDir();
  const junk = path.join(dir, 'junk.onnx');
  writeFileSync(junk, new Uint8Array([0x08, 0x07, 0x3a, 0xff, 0xff, 0x01]));
  const r = spawnSync(process.execPath, ['dist/cli.js', 'inspect', junk], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^qrecipe: ${junk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.deepEqual(readdirSync(dir), ['junk.onnx']);
});

test('qrecipe eval on a model whose external data is missing names the side file', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'ext.onnx');
  await buildMlp(file).save(file, { externalData: true, externalThreshold: 64 });
  rmSync(path.join(dir, 'ext.onnx.data'));
  const r = spawnSync(process.execPath, ['dist/cli.js', 'eval', file, '--metric', 'latency', '--runs', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ext\.onnx\.data' of tensor '.*' is missing/);
  assert.deepEqual(readdirSync(dir), ['ext.onnx']);
});

test('an external-data location outside the model folder is refused', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.onnx');
  await buildMlp(file).save(file, { externalData: true, externalThreshold: 64, externalLocation: 'm.data' });
  const bytes = readFileSync(file);
  // same length, so the protobuf stays valid: "m.data" → "../x.y"
  const patched = Buffer.from(bytes.toString('latin1').split('m.data').join('../x.y'), 'latin1');
  writeFileSync(file, new Uint8Array(patched));
  await assert.rejects(readInventory(file), (e: Error) => e.message.startsWith(file) && /outside the model's folder/.test(e.message));
});
