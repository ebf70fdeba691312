import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { byteWindows, tokenWindows } from '../../../language-server/core/model/data/text';
import { readIdx } from '../../../language-server/core/model/data/idx';
import { decodePng } from '../../../language-server/core/model/data/png';
import { listImageFolder, readPng } from '../../../language-server/core/model/data/images';
import { ctcGreedy, editDistance, listOcrLines } from '../../../language-server/core/model/data/ocr';
import { tempDir, encodePng } from './helpers';

test('byte windows: consecutive, random (seeded), and too short a file', async () => {
  const dir = tempDir();
  const f = path.join(dir, 't.txt');
  writeFileSync(f, 'abcdefghij');
  const w = await byteWindows(f, 4);
  assert.deepEqual(w.map((x) => String.fromCharCode(...x)), ['abcd', 'efgh']);
  const r1 = tokenWindows(new Uint8Array(100).map((_, k) => k), 8, 'x', { count: 5, seed: 3 });
  const r2 = tokenWindows(new Uint8Array(100).map((_, k) => k), 8, 'x', { count: 5, seed: 3 });
  assert.deepEqual(r1, r2);
  for (const x of r1) assert.ok(x.every((v, k) => k === 0 || v === x[k - 1]! + 1) && x[7]! < 100);
  await assert.rejects(byteWindows(f, 16), (e: Error) => e.message.startsWith(f) && /10 tokens, shorter than one window of 16/.test(e.message));
  await assert.rejects(byteWindows(path.join(dir, 'none.txt'), 4), /none\.txt: cannot read data file/);
});

test('IDX files, raw and gzip; labels that do not match name the label file', async () => {
  const dir = tempDir();
  const head = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
  const imgs = new Uint8Array([...head, ...Array.from({ length: 12 }, (_, k) => k * 10)]);
  writeFileSync(path.join(dir, 'img.idx'), imgs);
  writeFileSync(path.join(dir, 'img.idx.gz'), new Uint8Array(gzipSync(imgs)));
  const a = await readIdx(path.join(dir, 'img.idx'));
  const b = await readIdx(path.join(dir, 'img.idx.gz'));
  assert.deepEqual(a.dims, [2, 2, 3]);
  assert.deepEqual(Array.from(b.data), Array.from(a.data));
  assert.equal(a.data[11], 110);
  writeFileSync(path.join(dir, 'bad.idx'), new Uint8Array([1, 2, 3, 4, 5]));
  await assert.rejects(readIdx(path.join(dir, 'bad.idx')), /bad\.idx: not an IDX file/);
  writeFileSync(path.join(dir, 'cut.idx'), imgs.subarray(0, 20));
  await assert.rejects(readIdx(path.join(dir, 'cut.idx')), /cut\.idx: truncated IDX data/);
});

test('PNG decoding with every filter type, grey and RGB', () => {
  const w = 7, h = 6;
  const rgb = new Uint8Array(w * h * 3).map((_, k) => (k * 37 + (k >> 3) * 11) & 255);
  const img = decodePng(encodePng(w, h, 3, rgb), 'x.png');
  assert.deepEqual([img.width, img.height], [w, h]);
  for (let i = 0; i < w * h; i++) assert.deepEqual(Array.from(img.rgba.subarray(i * 4, i * 4 + 4)), [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255]);
  const grey = new Uint8Array(w * h).map((_, k) => (k * 29) & 255);
  const g = decodePng(encodePng(w, h, 1, grey), 'g.png');
  for (let i = 0; i < w * h; i++) assert.equal(g.rgba[i * 4 + 1], grey[i]);
  assert.throws(() => decodePng(new Uint8Array([1, 2, 3]), 'n.png'), /n\.png: not a PNG image/);
});

test('image folders: labels.tsv, class folders, mismatched labels, unreadable images', async () => {
  const dir = tempDir();
  const px = new Uint8Array(4 * 4).fill(9);
  for (const n of ['a.png', 'b.png']) writeFileSync(path.join(dir, n), encodePng(4, 4, 1, px));
  writeFileSync(path.join(dir, 'labels.tsv'), 'a.png\t3\nb.png\t1\n');
  const set = await listImageFolder(dir);
  assert.deepEqual(set.labels, [3, 1]);
  writeFileSync(path.join(dir, 'labels.tsv'), 'a.png\t3\n');
  await assert.rejects(listImageFolder(dir), (e: Error) => e.message.startsWith(path.join(dir, 'labels.tsv')) && /1 labels for 2 PNG images/.test(e.message));
  const classes = tempDir();
  for (const c of ['cat', 'dog']) {
    mkdirSync(path.join(classes, c));
    writeFileSync(path.join(classes, c, 'x.png'), encodePng(4, 4, 1, px));
  }
  const cs = await listImageFolder(classes);
  assert.deepEqual([cs.classes, cs.labels], [['cat', 'dog'], [0, 1]]);
  writeFileSync(path.join(dir, 'broken.png'), new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 0]));
  await assert.rejects(readPng(path.join(dir, 'broken.png')), (e: Error) => e.message.startsWith(path.join(dir, 'broken.png')));
});

test('OCR lines: labels.tsv with missing images, greedy CTC and edit distance', async () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'labels.tsv'), 'l1.png\thello\n');
  await assert.rejects(listOcrLines(dir), (e: Error) => e.message.startsWith(path.join(dir, 'labels.tsv')) && /l1\.png' not found/.test(e.message));
  // classes: 0 blank, 1 'a', 2 'b'; steps: a a blank a b b → "aab"
  const chars = ['', 'a', 'b'];
  const steps = [1, 1, 0, 1, 2, 2];
  const probs = new Float32Array(steps.length * 3);
  steps.forEach((c, t) => { probs[t * 3 + c] = 1; });
  assert.equal(ctcGreedy(probs, steps.length, 3, chars), 'aab');
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('日本語', '日本'), 1);
});
