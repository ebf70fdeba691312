// Fuzz family "onnx-headers": a small, valid model (MatMul, Gemm with bias, a Transpose-fed
// Constant weight, a Reshape-fed weight, external data for one tensor) changed at random where a
// header can lie — dims, element types, raw data lengths, typed fields, external-data entries and
// side files, node inputs and outputs, opsets — or as bytes (flips, cuts, splices). Whatever the
// file holds, reading it either gives an inventory whose every weight can then be read, or fails
// with a ModelFileError that starts with the file's path: never another error (a TypeError, a
// RangeError from a length that is not a number), never beyond a time bound.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../language-server/core/util/rng';
import { encodeMessage, type ModelProto, type TensorProto } from '../../language-server/core/model/onnx-proto';
import { readInventory } from '../../language-server/core/model/inventory';
import { loadModel, ModelFileError, tensorBytes } from '../../language-server/core/model/reader';
import type { FuzzResult } from './family';

const f32 = (n: number, seed: number): Uint8Array => {
  const r = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.normal();
  return new Uint8Array(a.buffer);
};

/** The base model: x[N,8] → MatMul(w1 [8,16]) → Gemm(w2 [4,16], b2) → y; x → MatMul(Transpose(C [3,8])) → y2; MatMul(Reshape(w3)) → y3. */
function baseModel(): ModelProto {
  const t = (name: string, dims: number[], seed: number): TensorProto => ({ name, dataType: 1, dims, rawData: f32(dims.reduce((a, b) => a * b, 1), seed) });
  return {
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      input: [{ name: 'x' }],
      output: [{ name: 'y' }, { name: 'y2' }, { name: 'y3' }],
      initializer: [t('model.layers.0.mlp.up_proj.weight', [8, 16], 1), t('head.weight', [4, 16], 2), t('head.bias', [4], 3), t('w3', [64], 4), { name: 'shape3', dataType: 7, dims: [2], int64Data: [8, 8] },
        { name: 'ext.weight', dataType: 1, dims: [8, 4], dataLocation: 1, externalData: [{ key: 'location', value: 'm.data' }, { key: 'offset', value: '0' }, { key: 'length', value: '128' }] }],
      node: [
        { name: 'mm1', opType: 'MatMul', input: ['x', 'model.layers.0.mlp.up_proj.weight'], output: ['h'] },
        { name: 'gemm', opType: 'Gemm', input: ['h', 'head.weight', 'head.bias'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        { name: 'c', opType: 'Constant', input: [], output: ['cw'], attribute: [{ name: 'value', type: 4, t: { name: 'cw', dataType: 1, dims: [3, 8], rawData: f32(24, 5) } }] },
        { name: 't', opType: 'Transpose', input: ['cw'], output: ['cwt'], attribute: [{ name: 'perm', type: 7, ints: [1, 0] }] },
        { name: 'mm2', opType: 'MatMul', input: ['x', 'cwt'], output: ['y2'] },
        { name: 'r', opType: 'Reshape', input: ['w3', 'shape3'], output: ['w3r'] },
        { name: 'mm3', opType: 'MatMul', input: ['x', 'w3r'], output: ['y3a'] },
        { name: 'mm4', opType: 'MatMul', input: ['y3a', 'ext.weight'], output: ['y3'] },
      ],
    },
  };
}

const JUNK_NUMBERS = [-1, -2048, 0, 1, 3, 2 ** 31, 2 ** 40, 2 ** 53 + 2, 1e300, NaN];
const JUNK_TEXT = ['', '-5', 'abc', '1e3', '0x10', ' 12', '99999999999999999999', '../x', '/etc/passwd', 'm.data\u0000', 'sub/../m.data', 'link.bin', 'fifo'];

function pick<T>(rng: Rng, xs: readonly T[]): T { return xs[rng.int(xs.length)]!; }

/** One structural lie, applied in place. */
function mutate(rng: Rng, m: ModelProto): string {
  const g = m.graph!;
  const inits = g.initializer!;
  const t = pick(rng, [...inits, ...g.node!.filter((n) => n.opType === 'Constant').map((n) => n.attribute![0]!.t!)]);
  switch (rng.int(11)) {
    case 0: { const k = rng.int((t.dims?.length ?? 0) + 1); t.dims = [...(t.dims ?? [])]; t.dims[k] = pick(rng, JUNK_NUMBERS); return `dims of ${t.name} = ${JSON.stringify(t.dims)}`; }
    case 1: t.dataType = pick(rng, [0, 2, 3, 7, 8, 10, 16, 17, 22, 23, 99, -1]); return `dataType of ${t.name} = ${t.dataType}`;
    case 2: if (t.rawData) t.rawData = t.rawData.subarray(0, rng.int(t.rawData.length + 1)); return `raw data of ${t.name} cut`;
    case 3: if (t.rawData) { delete t.rawData; t.floatData = Array.from({ length: rng.int(200) }, () => rng.normal()); } return `typed floats for ${t.name}`;
    case 4: { const e = inits.find((x) => x.name === 'ext.weight')!; const entry = pick(rng, e.externalData!); entry.value = pick(rng, JUNK_TEXT); return `external ${entry.key} = ${JSON.stringify(entry.value)}`; }
    case 5: { const n = pick(rng, g.node!); n.input = [...(n.input ?? [])]; n.input[rng.int(n.input.length + 1)] = pick(rng, ['nowhere', 'y', n.output?.[0] ?? 'x', '', 'x']); return `inputs of ${n.name} = ${JSON.stringify(n.input)}`; }
    case 6: { const n = pick(rng, g.node!); n.output = [pick(rng, ['h', 'x', 'w3', 'y', 'fresh'])]; return `outputs of ${n.name} = ${JSON.stringify(n.output)}`; }
    case 7: g.node!.push({ ...pick(rng, g.node!) }); return 'a node duplicated';
    case 8: m.opsetImport = rng.next() < 0.5 ? [] : [{ domain: '', version: pick(rng, [-1, 0, 1, 999]) }]; return `opsets ${JSON.stringify(m.opsetImport)}`;
    case 9: { const s = inits.find((x) => x.name === 'shape3')!; s.int64Data = [pick(rng, JUNK_NUMBERS), pick(rng, JUNK_NUMBERS)]; return `reshape target ${JSON.stringify(s.int64Data)}`; }
    default: g.node = g.node!.slice().reverse(); return 'nodes reversed';
  }
}

/** The side file of the base model, plus the odd files a location may name. */
function sideFiles(dir: string): void {
  writeFileSync(path.join(dir, 'm.data'), f32(32, 9));
  try { symlinkSync('/dev/zero', path.join(dir, 'link.bin')); } catch { /* exists */ }
}

export async function fuzzOnnxHeaders(seed: number, deadline: number, maxCases = Infinity): Promise<FuzzResult> {
  const rng = new Rng(seed);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-fuzz-onnx-'));
  sideFiles(dir);
  const file = path.join(dir, 'm.onnx');
  const failures: string[] = [];
  let cases = 0;
  try {
    while (cases < maxCases && performance.now() < deadline && failures.length < 20) {
      cases++;
      const m = baseModel();
      const what: string[] = [];
      for (let k = 1 + rng.int(3); k > 0; k--) what.push(mutate(rng, m));
      let bytes = encodeMessage('ModelProto', m);
      if (rng.next() < 0.3) {
        bytes = bytes.slice();
        const kind = rng.int(3);
        if (kind === 0) { for (let k = 0; k < 4; k++) bytes[rng.int(bytes.length)] = rng.int(256); what.push('bytes flipped'); }
        else if (kind === 1) { bytes = bytes.subarray(0, rng.int(bytes.length)); what.push('file cut'); }
        else { const a = rng.int(bytes.length); bytes = Uint8Array.from([...bytes.subarray(0, a), ...bytes.subarray(a, a + 40), ...bytes.subarray(a)]); what.push('bytes repeated'); }
      }
      writeFileSync(file, bytes);
      const ctx = `case ${cases} (seed ${seed}): ${what.join('; ')}`;
      const t0 = performance.now();
      try {
        const inv = await readInventory(file);
        // every weight of the inventory can be read: the checks at load cover what reading trusts
        const model = await loadModel(file);
        const byName = new Map((model.proto.graph?.initializer ?? []).map((t) => [t.name, t]));
        for (const l of inv.layers) {
          const t = byName.get(l.tensorName);
          if (t) tensorBytes(model, t);
          if (!Number.isSafeInteger(l.params) || l.params < 0 || l.rows < 0 || l.cols < 0) failures.push(`${ctx}: layer ${l.name} has ${l.params} params, ${l.rows}x${l.cols}`);
        }
      } catch (err) {
        const e = err as Error;
        if (!(e instanceof ModelFileError) && !(e?.name === 'ModelFileError')) failures.push(`${ctx}: ${e?.name}: ${e?.message}`);
        else if (!e.message.startsWith(file)) failures.push(`${ctx}: message does not start with the file: ${e.message}`);
      }
      const ms = performance.now() - t0;
      if (ms > 2000) failures.push(`${ctx}: took ${ms.toFixed(0)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { family: 'onnx-headers', seed, cases, failures };
}
