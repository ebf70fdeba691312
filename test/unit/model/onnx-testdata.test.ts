// Debian's libonnx-testdata: ~1,000 small models with reference inputs/outputs. Every model that
// holds a weight must be read (inventory + table) without a crash; models with layers are also
// rewritten with every weight replaced by itself and must reproduce their reference outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { loadModel, graphTensors, tensorBytes, tensorElements } from '../../../language-server/core/model/reader';
import { decodeMessage, type TensorProto } from '../../../language-server/core/model/onnx-proto';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { formatModelSummary, summarizeModel } from '../../../language-server/core/model/summary';
import { dtypeName } from '../../../language-server/core/model/dtype';
import { tempDir } from './helpers';

const ROOT = '/usr/share/libonnx-testdata';

function ensureInstalled(): string | undefined {
  if (existsSync(ROOT)) return undefined;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' });
  if (apt.status !== 0) return 'apt-get is not available to install libonnx-testdata';
  if (process.getuid?.() !== 0) return 'not root: cannot apt-get install libonnx-testdata';
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'libonnx-testdata'], { stdio: 'ignore' });
  return r.status === 0 && existsSync(ROOT) ? undefined : `apt-get install libonnx-testdata failed (exit ${r.status})`;
}

function findModels(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return findModels(p);
    return name === 'model.onnx' ? [p] : [];
  });
}

const skip = ensureInstalled();
if (skip) console.log(`# skipping libonnx-testdata tests: ${skip}`);

test('inspect reads every libonnx-testdata model that has a weight', { skip }, async () => {
  const files = findModels(ROOT);
  assert.ok(files.length > 500, `${files.length} models found`);
  let withWeights = 0;
  const failures: string[] = [];
  for (const f of files) {
    try {
      const m = await loadModel(f);
      if ([...graphTensors(m)].length === 0) continue;
      withWeights++;
      assert.ok(formatModelSummary(summarizeModel(m)).includes(f));
    } catch (err) {
      const msg = (err as Error).message;
      // an unreadable model is acceptable only with an error that names it
      if (!msg.includes(f)) failures.push(`${f}: ${msg}`);
    }
  }
  assert.ok(withWeights > 100, `${withWeights} models with weights`);
  assert.deepEqual(failures, []);
});

const ARRAYS: Record<string, [ort.Tensor.Type, new (b: ArrayBuffer, o: number, n: number) => ort.Tensor.DataType]> = {
  float32: ['float32', Float32Array], float64: ['float64', Float64Array], int64: ['int64', BigInt64Array],
  int32: ['int32', Int32Array], int8: ['int8', Int8Array], uint8: ['uint8', Uint8Array], bool: ['bool', Uint8Array],
  int16: ['int16', Int16Array], uint16: ['uint16', Uint16Array],
};

function readPb(file: string): { name: string; tensor: ort.Tensor } | undefined {
  const t = decodeMessage<TensorProto>('TensorProto', new Uint8Array(readFileSync(file)));
  const kind = ARRAYS[dtypeName(t.dataType)];
  if (!kind) return undefined;
  const model = { path: file, dir: path.dirname(file), proto: {}, fileBytes: 0 };
  const copy = new Uint8Array(tensorBytes(model, t)).buffer;
  const [type, Ctor] = kind;
  return { name: t.name ?? '', tensor: new ort.Tensor(type, new Ctor(copy, 0, tensorElements(t)) as never, (t.dims ?? []).map(Number)) };
}

test('libonnx-testdata models with weights, rewritten (layer weights replaced by themselves), reproduce the reference outputs', { skip }, async () => {
  const dir = tempDir();
  let checked = 0;
  let withLayers = 0;
  for (const f of findModels(ROOT)) {
    const m = await loadModel(f);
    const inv = inventoryOf(m);
    if (!inv.layers.length && [...graphTensors(m)].length === 0) continue;
    if (!(m.proto.graph?.input ?? []).every((v) => v.type?.tensorType)) continue; // sequence/map inputs
    const data = path.join(path.dirname(f), 'test_data_set_0');
    if (!existsSync(data)) continue;
    const ins = readdirSync(data).filter((n) => n.startsWith('input_')).sort().map((n) => readPb(path.join(data, n)));
    const outs = readdirSync(data).filter((n) => n.startsWith('output_')).sort().map((n) => readPb(path.join(data, n)));
    if (ins.some((x) => !x) || outs.some((x) => !x)) continue;
    const editor = new ModelEditor(m);
    for (const l of inv.layers) setLayerWeight(editor, l, await getLayerWeight(editor, l));
    const out = path.join(dir, `${path.basename(path.dirname(f))}.onnx`);
    await editor.save(out);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(out, { logSeverityLevel: 3 });
    } catch {
      continue; // an op this onnxruntime no longer supports: not the writer's concern
    }
    const feeds = Object.fromEntries(session.inputNames.map((name, k) => [name, (ins.find((x) => x!.name === name) ?? ins[k])!.tensor]));
    const res = await session.run(feeds);
    session.outputNames.forEach((name, k) => {
      const got = Array.from(res[name]!.data as ArrayLike<number | bigint>, Number);
      const want = Array.from((outs.find((x) => x!.name === name) ?? outs[k])!.tensor.data as ArrayLike<number | bigint>, Number);
      assert.equal(got.length, want.length, f);
      for (let i = 0; i < got.length; i++) {
        const ok = Math.abs(got[i]! - want[i]!) <= 1e-4 + 1e-3 * Math.abs(want[i]!) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
        assert.ok(ok, `${f} output ${name}[${i}]: ${got[i]} vs ${want[i]}`);
      }
    });
    await session.release();
    checked++;
    if (inv.layers.length) withLayers++;
  }
  assert.ok(checked >= 100 && withLayers >= 20, `${checked} models checked, ${withLayers} with layers`);
});
