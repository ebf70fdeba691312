// Issue 20 #3 and #6: special files and headers that lie. Models and their external data are read
// only as regular files, side files only inside the model's folder (links resolved), and every
// tensor's dims and data are checked against each other before anything is allocated from them.
// Data sets, recipes and imports get the same treatment; hashing a data set is bounded and cancellable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readInventory } from '../../../language-server/core/model/inventory';
import { loadModel, ModelFileError } from '../../../language-server/core/model/reader';
import { decodeMessage, encodeMessage, type ModelProto } from '../../../language-server/core/model/onnx-proto';
import { byteWindows, readBytes } from '../../../language-server/core/model/data/text';
import { readIdx } from '../../../language-server/core/model/data/idx';
import { decodePng } from '../../../language-server/core/model/data/png';
import { DataFileError } from '../../../language-server/core/model/data/errors';
import { sha256Path } from '../../../language-server/core/util/hash';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { checkFile } from '../../../language-server/core/recipe/check';
import { buildMlp, tempDir } from './helpers';

const quick = async <T>(ms: number, p: Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try { return await p; } finally { assert.ok(performance.now() - t0 < ms, `took ${(performance.now() - t0).toFixed(0)} ms`); }
};

function fifo(dir: string, name = 'pipe'): string {
  const f = path.join(dir, name);
  execFileSync('mkfifo', [f]);
  return f;
}

/** A model whose decoded form was changed by `edit`, written next to the original. */
async function edited(edit: (m: ModelProto) => void, opts: { external?: boolean } = {}): Promise<{ dir: string; file: string }> {
  const dir = tempDir();
  const file = path.join(dir, 'm.onnx');
  await buildMlp(file).save(file, opts.external ? { externalData: true, externalThreshold: 64, externalLocation: 'm.data' } : {});
  const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(file)));
  edit(m);
  writeFileSync(file, encodeMessage('ModelProto', m));
  return { dir, file };
}

const rejects = (p: Promise<unknown>, file: string, why: RegExp) =>
  assert.rejects(p, (e: Error) => e instanceof ModelFileError && e.message.startsWith(file) && why.test(e.message) ? true : assert.fail(`${e.name}: ${e.message}`));

test('model "/dev/zero", a FIFO, a folder: refused at once, nothing read (issue 20 #3)', async () => {
  await quick(500, rejects(readInventory('/dev/zero'), '/dev/zero', /character device, not a regular file/));
  const dir = tempDir();
  const p = fifo(dir, 'model.onnx');
  await quick(500, rejects(readInventory(p), p, /FIFO \(named pipe\), not a regular file/));
  await rejects(readInventory(dir), dir, /is a folder, not a regular file/);
  // a link to a regular model is fine (the file is what counts)
  const real = path.join(dir, 'real.onnx');
  await buildMlp(real).save(real);
  symlinkSync(real, path.join(dir, 'link.onnx'));
  assert.ok((await readInventory(path.join(dir, 'link.onnx'))).layers.length > 0);
});

test('external data: a link out of the model folder, a FIFO, /dev/zero are refused (issue 20 #3)', async () => {
  const { dir, file } = await edited(() => undefined, { external: true });
  const data = path.join(dir, 'm.data');
  const outside = path.join(tempDir(), 'stolen.bin');
  writeFileSync(outside, new Uint8Array(readFileSync(data)));
  execFileSync('rm', [data]);
  symlinkSync(outside, data);
  await rejects(readInventory(file), file, /m\.data' of tensor '.*' is a link to '.*stolen\.bin', outside the model's folder/);
  execFileSync('rm', [data]);
  symlinkSync('/dev/zero', data);
  await quick(500, rejects(readInventory(file), file, /outside the model's folder/));
  execFileSync('rm', [data]);
  fifo(dir, 'm.data');
  await quick(500, rejects(readInventory(file), file, /m\.data' of tensor '.*': the external data file is a FIFO/));
});

test('external-data offsets and lengths must be whole numbers matching the dims (issue 20 #6)', async () => {
  const setEntry = (key: string, value: string) => (m: ModelProto) => {
    const t = m.graph!.initializer!.find((x) => x.dataLocation === 1)!;
    const e = t.externalData!.find((x) => x.key === key);
    if (e) e.value = value; else t.externalData!.push({ key, value });
  };
  for (const [key, value, why] of [
    ['length', 'abc', /length 'abc' is not a whole number/], ['length', '-512', /length '-512' is not a whole number/],
    ['length', '1e3', /not a whole number/], ['length', '', /not a whole number/], ['offset', '0x10', /offset '0x10' is not a whole number/],
    ['offset', '99999999999999999999', /not a whole number/], ['length', '4', /length 4 does not match its dims and type \(\d+ bytes\)/],
    ['offset', '100000000', /too short for tensor/],
  ] as const) {
    const { file } = await edited(setEntry(key, value), { external: true });
    await rejects(readInventory(file), file, why);
  }
});

test('dims against data: negative, fractional or overflowing dims, short raw data, missing typed values (issue 20 #6, #9)', async () => {
  const first = (m: ModelProto) => m.graph!.initializer![0]!;
  const cases: [(m: ModelProto) => void, RegExp][] = [
    [(m) => { first(m).dims = [-2, -1024]; }, /dimension -2 is not a whole non-negative number/],
    [(m) => { first(m).dims = [2 ** 40, 2 ** 40]; }, /more elements than can be addressed/],
    [(m) => { first(m).dims = [8, 32]; }, /raw data holds 512 bytes, its dims \[8, 32\] and type float32 need 1024/],
    [(m) => { const t = first(m); t.rawData = t.rawData!.subarray(0, 100); }, /raw data holds 100 bytes/],
    [(m) => { const t = first(m); delete t.rawData; t.floatData = [1, 2, 3]; }, /float_data holds 3 values, its dims \[8, 16\] need 128/],
    [(m) => { const t = first(m); delete t.rawData; }, /float_data holds 0 values/],
    [(m) => { first(m).dataType = 99; }, /unknown element type \(unknown\(99\)\)/],
  ];
  for (const [edit, why] of cases) {
    const { file } = await edited(edit);
    await rejects(loadModel(file), file, why);
  }
  // the Constant-node weight is checked too, named by its tensor
  const { file } = await edited((m) => { const c = m.graph!.node!.find((n) => n.opType === 'Constant')!; c.attribute![0]!.t!.dims = [3, 9]; });
  await rejects(loadModel(file), file, /tensor 'side\.w_0': raw data holds 96 bytes, its dims \[3, 9\]/);
});

test('data sets: /dev/zero, a FIFO, a gzip bomb and a PNG that claims gigapixels are refused; reads honour cancel', async () => {
  await quick(500, assert.rejects(readBytes('/dev/zero'), (e: Error) => e instanceof DataFileError && /\/dev\/zero: the data file is a character device/.test(e.message)));
  const dir = tempDir();
  const p = fifo(dir);
  await quick(500, assert.rejects(byteWindows(p, 16), /the data file is a FIFO/));
  const text = path.join(dir, 'big.txt');
  writeFileSync(text, 'x'.repeat(1 << 20));
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(byteWindows(text, 16, { signal: ac.signal }), CancelledError);
  // gzip bombs: a header announcing 2.8e14 bytes is refused before anything is inflated; a valid
  // header over 2.5 GiB of inflated junk costs only what the header announces
  const header = (dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b[2] = 8;
    b[3] = dims.length;
    dims.forEach((d, k) => b.writeUInt32BE(d, 4 + 4 * k));
    return b;
  };
  const zeros = gzipSync(new Uint8Array(16 << 20));
  const bomb = path.join(dir, 'bomb-idx3-ubyte.gz');
  writeFileSync(bomb, new Uint8Array(Buffer.concat([gzipSync(new Uint8Array(header([65535, 65535, 65535]))), ...Array(160).fill(zeros)])));
  await quick(2000, assert.rejects(readIdx(bomb), (e: Error) => e instanceof DataFileError && /announces 281,462,092,005,391 bytes, more than/.test(e.message)));
  writeFileSync(bomb, new Uint8Array(Buffer.concat([gzipSync(new Uint8Array(header([10, 28, 28]))), ...Array(160).fill(zeros)])));
  const idx = await quick(2000, readIdx(bomb));
  assert.deepEqual(idx.dims, [10, 28, 28]);
  assert.equal(idx.data.length, 7840);
  // an IHDR of 65535 × 65535 pixels with almost no data
  const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 255, 255, 0, 0, 255, 255, 8, 2, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => decodePng(png, 'x.png'), /x\.png: the PNG is 65535×65535 pixels, more than/);
});

test('hashing a data set: special files refused, link loops end, cancel is honoured within a chunk', async () => {
  await quick(500, assert.rejects(sha256Path('/dev/zero'), /character device, not a regular file/));
  const dir = tempDir();
  mkdirSync(path.join(dir, 'cls'));
  writeFileSync(path.join(dir, 'cls', 'a.png'), 'x');
  symlinkSync(dir, path.join(dir, 'cls', 'loop'));
  assert.match(await quick(2000, sha256Path(dir)), /^[0-9a-f]{64}$/);
  fifo(path.join(dir, 'cls'), 'b.png');
  await quick(500, assert.rejects(sha256Path(dir), /b\.png: the data file is a FIFO/));
  const big = path.join(tempDir(), 'big.bin');
  writeFileSync(big, new Uint8Array(40 << 20));
  const ac = new AbortController();
  const p = sha256Path(big, ac.signal);
  setImmediate(() => ac.abort());
  await assert.rejects(p, CancelledError);
});

test('recipes: a BOM is not an error (as in VS Code); /dev/zero and FIFOs as recipe or import are refused at once (issue 20 #9)', async () => {
  const dir = tempDir();
  const bom = path.join(dir, 'bom.qrecipe');
  writeFileSync(bom, '\uFEFFquantize rtn { bits 4 }\n');
  const { analysis } = await checkFile(bom);
  assert.deepEqual(analysis.diagnostics.filter((d) => d.code === 'QR001'), []);
  await quick(500, assert.rejects(checkFile('/dev/zero'), /recipe file is a character device/));
  const p = fifo(dir, 'pipe.qrecipe');
  await quick(500, assert.rejects(checkFile(p), /FIFO/));
  const use = path.join(dir, 'use.qrecipe');
  writeFileSync(use, 'use "/dev/zero"\nuse "pipe.qrecipe"\nquantize rtn\n');
  const r = await quick(1000, checkFile(use));
  const msgs = r.analysis.diagnostics.filter((d) => d.code === 'QR116').map((d) => d.message);
  assert.equal(msgs.length, 2, JSON.stringify(msgs));
  assert.match(msgs[0]!, /character device, not a regular file/);
  assert.match(msgs[1]!, /FIFO/);
});

test('qrecipe inspect on negative dims says so (not "-2,048 params", not a raw "Invalid typed array length"); raw errors are labelled as bugs (issue 20 #9)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { userMessage } = await import('../../../language-server/core/util/errors');
  const { file } = await edited((m) => { m.graph!.initializer![0]!.dims = [-2, 1024]; });
  const r = spawnSync(process.execPath, ['dist/cli.js', 'inspect', file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dimension -2 is not a whole non-negative number/);
  assert.doesNotMatch(r.stdout + r.stderr, /-2,048|Invalid typed array/);
  assert.match(userMessage(new RangeError('Invalid typed array length: -2048')), /^internal error \(RangeError: Invalid typed array length: -2048\); this is a bug/);
  assert.equal(userMessage(new Error('m.onnx: tensor \'w\': raw data holds 4 bytes')), 'm.onnx: tensor \'w\': raw data holds 4 bytes');
});

test('previews and converters: a data set\'s first lines read from its head only; the head reader (SPADE samples) and the llm-compressor converters refuse FIFOs and devices at once', async () => {
  const { spawnSync } = await import('node:child_process');
  const { readRegularFileHead } = await import('../../../language-server/core/util/regular-file');
  const dir = tempDir();
  const big = path.join(dir, 'big.txt');
  writeFileSync(big, 'a line long enough to be a sample\n'.repeat(200_000)); // 6.8 MB
  const head = await readRegularFileHead(big, 1 << 10, 'data file');
  assert.equal(head.length, 1 << 10);
  await quick(500, assert.rejects(readRegularFileHead('/dev/zero', 1 << 10, 'data file'), /character device/));
  const p = fifo(dir, 'pipe.yaml');
  await quick(500, assert.rejects(readRegularFileHead(p, 1 << 10, 'data file'), /FIFO/));
  for (const cmd of ['import-llmc', 'export-llmc']) {
    const r = spawnSync(process.execPath, ['dist/cli.js', cmd, p], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2, `${cmd}: ${r.error?.message ?? r.stderr}`);
    assert.match(r.stderr, /FIFO/);
  }
});
