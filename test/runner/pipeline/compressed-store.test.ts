// Layers in a form of their own (vq codes and codebooks, a rotated layer's scalar codes: issue #23)
// in the run's stores: the WeightStore keeps them like scalar codes (in memory, or spilled to the
// scratch file past its budget and read back layer by layer, decoding to the same weights), and
// quant.bin (version 3) records them with their rotations, reads them back field for field, still
// writes version 2 when no layer has such a form, and refuses a damaged entry with a located error.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WeightStore } from '../../../extension/runner/pipeline/weight-store';
import { readQuantStore, readQuantStoreAll, writeQuantStore, writeQuantStoreStreaming, quantMeta } from '../../../extension/runner/export/quant-store';
import { compressedSourceOf } from '../../../extension/runner/export/compressed-entry';
import { decodeLayer, type CompressedLayer } from '../../../extension/runner/engine/extreme/compressed';
import { incoherenceForLayer } from '../../../extension/runner/engine/extreme/incoherence';
import { quantizeRef, randn, rng } from '../helpers';

function vqLayer(name: string, rows: number, cols: number, bits: number, seed: number, rotate: boolean): CompressedLayer {
  const rand = rng(seed);
  const dim = 4;
  const M = 2;
  const K = 2 ** bits;
  const n = rows * (cols / dim) * M;
  const codes = bits <= 8 ? Uint8Array.from({ length: n }, () => Math.floor(rand() * K)) : Uint16Array.from({ length: n }, () => Math.floor(rand() * K));
  return {
    name, rows, cols,
    body: { kind: 'vector', rows, cols, dim, codebooks: M, bits, codes, books: randn(M * K * dim, rand, 0.1), scales: Float32Array.from({ length: rows }, () => 0.5 + rand()) },
    ...(rotate ? { incoherence: incoherenceForLayer(rows, cols) } : {}),
  };
}

function rotatedScalar(name: string, rows: number, cols: number, seed: number): CompressedLayer {
  const q = quantizeRef(name, randn(rows * cols, rng(seed), 0.05), rows, cols, 2, 16);
  return { name, rows, cols, body: { kind: 'scalar', bits: 2, groupSize: 16, symmetric: false, codes: q.codes, scales: q.scales, zeros: q.zeros }, incoherence: incoherenceForLayer(rows, cols) };
}

function sameForm(a: CompressedLayer, b: CompressedLayer): void {
  assert.equal(a.name, b.name);
  assert.deepEqual(a.body, b.body);
  assert.deepEqual(a.incoherence?.out?.signs, b.incoherence?.out?.signs);
  assert.deepEqual(a.incoherence?.in?.signs, b.incoherence?.in?.signs);
  assert.deepEqual(decodeLayer(a), decodeLayer(b));
}

for (const budget of [1 << 30, 0]) {
  test(`weight store keeps vq / rotated forms (${budget ? 'in memory' : 'everything spilled'}): same form back, same decoded weights; replacing drops the form`, async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-cs-')), '.scratch');
    const store = new WeightStore(dir, budget);
    const forms = [vqLayer('v8', 16, 64, 8, 1, false), vqLayer('v10', 8, 32, 10, 2, true), rotatedScalar('s', 16, 64, 3)];
    for (const c of forms) await store.setCompressed(c);
    assert.deepEqual(store.compressed.map((m) => m.name), ['v8', 'v10', 's']);
    assert.deepEqual(store.compressed.map((m) => m.body.kind), ['vector', 'vector', 'scalar']);
    for (const c of forms) {
      sameForm((await store.compressedLayer(c.name))!, c);
      assert.deepEqual(await store.weight(c.name), decodeLayer(c));
    }
    assert.equal(existsSync(path.join(dir, 'weights.bin')), budget === 0);
    if (budget === 0) {
      // the arrays went to the scratch file (codes, scales, codebooks or zeros), none stayed in memory
      const bytes = forms.reduce((a, c) => a + c.body.codes.byteLength + c.body.scales.byteLength + (c.body.kind === 'vector' ? c.body.books.byteLength : c.body.zeros.byteLength), 0);
      assert.equal(store.stats.spilledBytes, bytes);
      assert.equal(store.stats.peakMemoryBytes, 0);
    }
    await store.setFloat('v8', new Float32Array(16 * 64));
    assert.deepEqual(store.compressed.map((m) => m.name), ['v10', 's']);
    assert.equal(await store.compressedLayer('v8'), undefined);
    await store.close();
  });
}

test('quant.bin version 3 holds vq and rotated layers with the scalar ones; streaming = at once; without them it stays version 2', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-qb3-'));
  const scalar = [quantizeRef('q', randn(8 * 32, rng(9), 0.05), 8, 32, 4, 16)];
  const forms = [vqLayer('v8', 16, 64, 8, 1, false), vqLayer('v10', 8, 32, 10, 2, true), rotatedScalar('s', 16, 64, 3)];
  const a = path.join(dir, 'a.bin');
  await writeQuantStore(a, scalar, forms);
  const b = path.join(dir, 'b.bin');
  await writeQuantStoreStreaming(b, scalar.map(quantMeta), async () => scalar[0]!, undefined, compressedSourceOf(forms));
  assert.deepEqual(readFileSync(b), readFileSync(a));
  assert.equal(readFileSync(a).readUInt32LE(4), 3);
  const back = await readQuantStoreAll(a);
  assert.deepEqual(back.layers[0]!.codes, scalar[0]!.codes);
  assert.equal(back.compressed.length, 3);
  forms.forEach((c, i) => sameForm(back.compressed[i]!, c));
  assert.ok(back.compressed[1]!.body.codes instanceof Uint16Array, '10-bit codes come back as uint16');
  // a store of scalar layers only is the version-2 file older QRecipe reads
  const old = path.join(dir, 'old.bin');
  await writeQuantStore(old, scalar);
  assert.equal(readFileSync(old).readUInt32LE(4), 2);
  assert.deepEqual((await readQuantStore(old))[0]!.scales, scalar[0]!.scales);
  assert.deepEqual((await readQuantStoreAll(old)).compressed, []);
});

/** quant.bin with its header changed by `edit` (blobs kept where they were). */
function withHeader(bytes: Uint8Array, edit: (h: { compressed: Record<string, unknown>[] }) => void): Uint8Array {
  const len = Buffer.from(bytes).readUInt32LE(8);
  const header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + len)).toString('utf8')) as { compressed: Record<string, unknown>[] };
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const start = Math.ceil((12 + json.length) / 64) * 64;
  const oldStart = Math.ceil((12 + len) / 64) * 64;
  const out = Buffer.alloc(start + bytes.length - oldStart);
  out.set(bytes.subarray(0, 12));
  out.writeUInt32LE(json.length, 8);
  out.set(json, 12);
  out.set(bytes.subarray(oldStart), start);
  return new Uint8Array(out);
}

test('a damaged vq / rotated entry of quant.bin is a located error', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-qb3d-'));
  const file = path.join(dir, 'quant.bin');
  const v = vqLayer('v', 8, 32, 8, 1, true);
  await writeQuantStore(file, [], [v]);
  const good = new Uint8Array(readFileSync(file));
  const len = Buffer.from(good).readUInt32LE(8);
  const start = Math.ceil((12 + len) / 64) * 64;
  const header = JSON.parse(Buffer.from(good.subarray(12, 12 + len)).toString('utf8')) as { compressed: { books: { offset: number }; rotations: { in: { signs: { offset: number } } } }[] };
  const e = header.compressed[0]!;
  const cases: [string, Uint8Array, RegExp][] = [
    ['a sign that is not ±1', (() => { const x = good.slice(); x[start + e.rotations.in.signs.offset] = 0; return x; })(), /layer 'v': sign 0 of its column rotation is 0/],
    ['a NaN in a codebook', (() => { const x = good.slice(); new DataView(x.buffer).setFloat32(start + e.books.offset, NaN, true); return x; })(), /layer 'v': its codebooks hold NaN \(at 0\), not a float16 value/],
    ['a codebook value past float16', (() => { const x = good.slice(); new DataView(x.buffer).setFloat32(start + e.books.offset + 8, 1e30, true); return x; })(), /layer 'v': its codebooks hold 1\.0\d*e\+30 \(at 2\), not a float16 value/],
    ['cut short', good.slice(0, good.length - 10), /layer 'v': its .* lie past the end of the file \(truncated\)/],
    ['a newer entry version', withHeader(good, (h) => { h.compressed[0]!.version = 2; }), /layer 'v': its entry is version 2, written by a newer QRecipe/],
    ['a vector size that does not tile', withHeader(good, (h) => { h.compressed[0]!.dim = 5; }), /layer 'v': vector size 5 does not tile its 32 columns/],
    ['a rotation of the wrong size', withHeader(good, (h) => { (h.compressed[0]!.rotations as { in: { n: number } }).in.n = 16; }), /layer 'v': its column rotation is not of size 32/],
    ['a span of the wrong size', withHeader(good, (h) => { (h.compressed[0]!.codes as { length: number }).length = 3; }), /layer 'v': its codes span does not hold 128 bytes/],
    ['an unknown form', withHeader(good, (h) => { h.compressed[0]!.form = 'lattice'; }), /layer 'v': unknown form "lattice"/],
    ['not a list', withHeader(good, (h) => { (h as Record<string, unknown>).compressed = 7; }), /its compressed layers are not a list/],
  ];
  // 8-bit codes cannot exceed 255: for the code check, a 4-bit layer
  const v4 = vqLayer('w', 8, 32, 4, 2, false);
  const f4 = path.join(dir, 'w.bin');
  await writeQuantStore(f4, [], [v4]);
  const g4 = new Uint8Array(readFileSync(f4));
  const l4 = Buffer.from(g4).readUInt32LE(8);
  const h4 = JSON.parse(Buffer.from(g4.subarray(12, 12 + l4)).toString('utf8')) as { compressed: { codes: { offset: number } }[] };
  const bad4 = g4.slice();
  bad4[Math.ceil((12 + l4) / 64) * 64 + h4.compressed[0]!.codes.offset + 5] = 16;
  cases.push(['a code past the codebook', bad4, /layer 'w': code 5 is 16, past 15/]);
  for (const [what, bytes, re] of cases) {
    writeFileSync(file, bytes);
    await assert.rejects(readQuantStoreAll(file), (err: Error) => {
      assert.ok(!(err instanceof RangeError) && !(err instanceof TypeError), `${what}: ${err.name}`);
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: damaged quantisation store: `), what);
      assert.match(err.message, re, what);
      return true;
    }, what);
  }
});
