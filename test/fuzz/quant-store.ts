// Fuzz family "quant-store": a run's quant.bin is a file of the workspace (a copied or crafted run
// folder), read back by `qrecipe export RUN`. A valid store of three layers (one with act-order group
// indices, one with fp16 outliers) and two layers in a form of their own (vq codes with a rotation,
// a rotated layer's scalar codes; version 3) is changed where its header can lie — rows, cols, bits, group size, spans (offsets and
// lengths), the header length, group indices — or as bytes (flips, cuts). Whatever it holds,
// reading it either gives layers whose arrays have the sizes their shapes need (so dequantising or
// decoding reads nothing out of range), or fails with an Error naming the file: never a RangeError or
// TypeError, a huge allocation, or a hang.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../language-server/core/util/rng';
import { dequantize, groupsOf, readQuantStoreAll, writeQuantStore, type QuantizedLayer } from '../../extension/runner/export/quant-store';
import { compressedSizes, compressedMeta } from '../../extension/runner/export/compressed-entry';
import { decodeLayer, type CompressedLayer } from '../../extension/runner/engine/extreme/compressed';
import { incoherenceForLayer } from '../../extension/runner/engine/extreme/incoherence';
import type { FuzzResult } from './family';

function layer(rng: Rng, name: string, rows: number, cols: number, groupSize: number, actOrder: boolean): QuantizedLayer {
  const g = Math.ceil(cols / groupSize);
  return {
    name, rows, cols, bits: 4, groupSize, symmetric: false,
    codes: Uint8Array.from({ length: rows * cols }, () => rng.int(16)),
    scales: Float32Array.from({ length: rows * g }, () => 0.01 + rng.next()),
    zeros: Float32Array.from({ length: rows * g }, () => rng.int(16)),
    ...(actOrder ? { gIdx: Int32Array.from({ length: cols }, () => rng.int(g)) } : {}),
  };
}

function forms(rng: Rng): CompressedLayer[] {
  const vq: CompressedLayer = {
    name: 'v', rows: 8, cols: 16, incoherence: incoherenceForLayer(8, 16),
    body: { kind: 'vector', rows: 8, cols: 16, dim: 4, codebooks: 2, bits: 3, codes: Uint8Array.from({ length: 8 * 4 * 2 }, () => rng.int(8)), books: Float32Array.from({ length: 2 * 8 * 4 }, () => rng.next() - 0.5), scales: Float32Array.from({ length: 8 }, () => 0.5 + rng.next()) },
  };
  const sc: CompressedLayer = {
    name: 's', rows: 4, cols: 16, incoherence: incoherenceForLayer(4, 16),
    body: { kind: 'scalar', bits: 2, groupSize: 8, symmetric: false, codes: Uint8Array.from({ length: 64 }, () => rng.int(4)), scales: Float32Array.from({ length: 8 }, () => 0.01 + rng.next()), zeros: Float32Array.from({ length: 8 }, () => rng.int(4)) },
  };
  return [vq, sc];
}

const JUNK: unknown[] = [-1, 0, 1, 3, 2.5, 1e300, 2 ** 40, 2 ** 53 + 2, '8', null, [], {}, true, -2048];

/** One lie in the header (as JSON) or the bytes. */
function mutate(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as { layers: Record<string, unknown>[]; compressed: Record<string, unknown>[] };
  const l = header.layers[rng.int(header.layers.length)]!;
  const junk = JUNK[rng.int(JUNK.length)];
  let what: string;
  switch (rng.int(9)) {
    case 7: { // a field of a vq / rotated entry
      const c = header.compressed[rng.int(header.compressed.length)]!;
      const k = ['rows', 'cols', 'dim', 'codebooks', 'bits', 'groupSize', 'symmetric', 'form', 'version', 'name', 'rotations', 'codes', 'books', 'zeros'][rng.int(14)]!;
      c[k] = junk; what = `compressed ${String(c.name)}.${k} = ${JSON.stringify(junk)}`; break;
    }
    case 8: { // a span or rotation size of a vq / rotated entry
      const c = header.compressed[rng.int(header.compressed.length)]!;
      const r = c.rotations as Record<string, Record<string, unknown>> | undefined;
      const side = r?.[rng.next() < 0.5 ? 'in' : 'out'];
      const k = ['codes', 'scales', 'books', 'zeros', 'n', 'signs'][rng.int(6)]!;
      const f = rng.next() < 0.5 ? 'offset' : 'length';
      if (k === 'n' && side) side.n = junk;
      else if (k === 'signs' && side) (side.signs as Record<string, unknown>)[f] = junk;
      else if (c[k] && typeof c[k] === 'object') (c[k] as Record<string, unknown>)[f] = junk;
      what = `compressed ${String(c.name)}.${k}.${f} = ${JSON.stringify(junk)}`; break;
    }
    case 0: { const k = ['rows', 'cols', 'bits', 'groupSize', 'symmetric', 'sparsity', 'name'][rng.int(7)]!; l[k] = junk; what = `${k} = ${JSON.stringify(junk)}`; break; }
    case 1: { const k = ['codes', 'scales', 'zeros', 'gIdx'][rng.int(4)]!; const s = (l[k] ?? (l[k] = {})) as Record<string, unknown>; const f = rng.next() < 0.5 ? 'offset' : 'length'; s[f] = junk; what = `${k}.${f} = ${JSON.stringify(junk)}`; break; }
    case 2: { const k = ['codes', 'scales', 'zeros', 'gIdx', 'outliers'][rng.int(5)]!; l[k] = junk; what = `${k} = ${JSON.stringify(junk)}`; break; }
    case 3:
      if (rng.next() < 0.3) { header.layers = junk as never; what = `layers = ${JSON.stringify(junk)}`; break; }
      { const o = header.layers.find((x) => x.outliers) as { outliers: Record<string, Record<string, unknown>> } | undefined; if (!o) { what = 'nothing'; break; } const k = ['rowPtr', 'colIdx', 'values'][rng.int(3)]!; const f = rng.next() < 0.5 ? 'offset' : 'length'; o.outliers[k]![f] = junk; what = `outliers.${k}.${f} = ${JSON.stringify(junk)}`; }
      break;
    case 4: { // a group index out of range (header intact)
      const at = rng.int(bytes.length - 4);
      const out = bytes.slice();
      new DataView(out.buffer).setInt32(at, [-1, 1 << 20, 7][rng.int(3)]!, true);
      return { bytes: out, what: `int32 at ${at} overwritten` };
    }
    case 5: { const out = bytes.slice(0, rng.int(bytes.length)); return { bytes: out, what: `cut to ${out.length} bytes` }; }
    default: { const out = bytes.slice(); new DataView(out.buffer).setUint32(8, [0, 1, len + 1, 0xffffffff][rng.int(4)]!, true); return { bytes: out, what: 'header length changed' }; }
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((12 + json.length) / 64) * 64;
  const oldStart = Math.ceil((12 + len) / 64) * 64;
  const out = new Uint8Array(start + bytes.length - oldStart);
  out.set(bytes.subarray(0, 12));
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(bytes.subarray(oldStart), start);
  return { bytes: out, what };
}

export async function fuzzQuantStore(seed: number, deadline: number, maxCases = Infinity): Promise<FuzzResult> {
  const rng = new Rng(seed);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-fuzz-quant-'));
  const file = path.join(dir, 'quant.bin');
  const withOutliers: QuantizedLayer = { ...layer(rng, 'c', 4, 16, 16, false), outliers: { rowPtr: Int32Array.from([0, 1, 1, 3, 3]), colIdx: Int32Array.from([5, 0, 15]), values: Uint16Array.from([0x3c00, 0xbc00, 0x4000]) } };
  await writeQuantStore(file, [layer(rng, 'a', 8, 32, 16, false), layer(rng, 'b', 4, 24, 8, true), withOutliers], forms(rng));
  const valid = new Uint8Array(readFileSync(file));
  const failures: string[] = [];
  let cases = 0;
  // the intact store reads back whole (else every case below would pass by failing)
  const intact = await readQuantStoreAll(file).catch((e: Error) => e);
  if (intact instanceof Error || intact.layers.length !== 3 || !intact.layers[2]!.outliers || intact.compressed.length !== 2) failures.push(`the intact store does not read back: ${intact instanceof Error ? intact.message : `${intact.layers.length} layers, ${intact.compressed.length} forms`}`);
  try {
    while (cases < maxCases && performance.now() < deadline && failures.length < 20) {
      cases++;
      let bytes: Uint8Array = valid;
      const what: string[] = [];
      for (let k = 1 + rng.int(2); k > 0; k--) {
        try { const m = mutate(rng, bytes); bytes = m.bytes; what.push(m.what); } catch { break; } // the header no longer parses: keep what we have
      }
      writeFileSync(file, bytes);
      const ctx = `case ${cases} (seed ${seed}): ${what.join('; ')}`;
      const t0 = performance.now();
      try {
        const back = await readQuantStoreAll(file);
        for (const c of back.compressed) {
          const b = c.body;
          const sizes = compressedSizes(compressedMeta(c));
          const third = b.kind === 'vector' ? b.books : b.zeros;
          if (b.codes.byteLength !== sizes[0] || b.scales.byteLength !== sizes[1] || third.byteLength !== sizes[2]) failures.push(`${ctx}: form ${c.name} read with arrays of the wrong size`);
          else if (decodeLayer(c).some((x) => Number.isNaN(x))) failures.push(`${ctx}: form ${c.name} decodes to NaN (a code out of its codebook)`);
        }
        for (const q of back.layers) {
          const g = groupsOf(q);
          if (q.codes.length !== q.rows * q.cols || q.scales.length !== q.rows * g || q.zeros.length !== q.rows * g || (q.gIdx && q.gIdx.length !== q.cols)) failures.push(`${ctx}: layer ${q.name} read with arrays of the wrong size`);
          else if (dequantize(q).some((x) => Number.isNaN(x))) failures.push(`${ctx}: layer ${q.name} dequantises to NaN (an index out of range)`);
        }
      } catch (err) {
        const e = err as Error;
        if (e?.constructor !== Error || !e.message.startsWith(file)) failures.push(`${ctx}: ${e?.name}: ${e?.message}`);
      }
      const ms = performance.now() - t0;
      if (ms > 2000) failures.push(`${ctx}: took ${ms.toFixed(0)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { family: 'quant-store', seed, cases, failures };
}
