// Issue 20 #6: invalid graphs and non-finite weights fail loudly. A cyclic graph, a self-loop or a
// missing input stops a run before any compute (located at the model line); NaN/Inf weights fail
// the stage naming the layer; an export that onnxruntime does not load fails the run and is removed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent, RunRecord } from '../../../language-server/core/protocol/runner';
import { decodeMessage, encodeMessage, type ModelProto } from '../../../language-server/core/model/onnx-proto';
import { writeMlpModel } from '../helpers';

import { CLI, buildCli } from '../quality/common';

before(buildCli); // the tests drive the bundled CLI: make sure it is current

function run(dir: string, recipe: string): { code: number | null; events: RunnerEvent[]; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'run', recipe, '--json-events'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, events: r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunnerEvent), stderr: r.stderr };
}

/** A workspace whose m.onnx is the MLP fixture edited by `edit`. */
async function ws(edit: (m: ModelProto) => void, body = 'quantize rtn { bits 8  group channel }\nexport onnx-fakequant "out/x.onnx"'): Promise<{ dir: string; recipe: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-badmodel-'));
  mkdirSync(path.join(dir, '.qrecipe'));
  const model = path.join(dir, 'm.onnx');
  await writeMlpModel(model);
  const m = decodeMessage<ModelProto>('ModelProto', new Uint8Array(readFileSync(model)));
  edit(m);
  writeFileSync(model, encodeMessage('ModelProto', m));
  const recipe = path.join(dir, 'r.qrecipe');
  writeFileSync(recipe, `model "m.onnx"\n${body}\n`);
  return { dir, recipe };
}

const runFolders = (dir: string): string[] => (existsSync(path.join(dir, '.qrecipe', 'runs')) ? readdirSync(path.join(dir, '.qrecipe', 'runs')) : []);

test('cyclic graph, self-loop, missing input: refused before any compute, located at the model line', async () => {
  const edits: [(m: ModelProto) => void, RegExp][] = [
    [(m) => { m.graph!.node![0]!.input![0] = 'Y'; m.graph!.node![1]!.input![0] = 'H'; }, /cycle/],
    [(m) => { m.graph!.node![1]!.input![0] = 'Y'; }, /self-loop/],
    [(m) => { m.graph!.node![0]!.input![1] = 'nowhere'; }, /reads 'nowhere', which no node/],
  ];
  for (const [edit, why] of edits) {
    const { dir, recipe } = await ws(edit);
    const r = run(dir, recipe);
    assert.equal(r.code, 1);
    assert.ok(!r.events.some((e) => e.type === 'run-start'), 'no compute');
    const err = r.events.find((e) => e.type === 'log' && e.level === 'error' && why.test(e.message));
    assert.ok(err && err.type === 'log' && err.line === 1 && err.file === recipe, JSON.stringify(r.events));
    assert.deepEqual(runFolders(dir), []);
  }
});

test('NaN and infinite weights fail the stage naming the layer and where; the run is failed, exit 1', async () => {
  const { dir, recipe } = await ws((m) => {
    const w = m.graph!.initializer!.find((t) => t.name === 'w1')!;
    const f = new Float32Array(w.rawData!.slice().buffer);
    f[5 * 48 + 7] = NaN; // stored [in 64, out 48]: W row 7, column 5
    f[9] = Infinity;
    w.rawData = new Uint8Array(f.buffer);
  });
  const r = run(dir, recipe);
  assert.equal(r.code, 1);
  const end = r.events.at(-1)!;
  assert.ok(end.type === 'run-end' && end.status === 'failed' && /layer 'w1': its weight holds 1 NaN and 1 infinite values \(first at row 9, column 0\)/.test(end.error ?? ''), JSON.stringify(end));
  const [id] = runFolders(dir);
  const rec = JSON.parse(readFileSync(path.join(dir, '.qrecipe', 'runs', id!, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(rec.status, 'failed');
  assert.ok(!existsSync(path.join(dir, 'out', 'x.onnx')));
});

test('an export that onnxruntime does not load fails the run, recorded as not verified', async () => {
  const { dir, recipe } = await ws((m) => {
    // a node of an operator set onnxruntime does not know, after the layers
    m.opsetImport!.push({ domain: 'com.example', version: 1 });
    m.graph!.node!.push({ name: 'odd', opType: 'Frobnicate', domain: 'com.example', input: ['Y'], output: ['Z'] });
    m.graph!.output![0]!.name = 'Z';
  });
  const r = run(dir, recipe);
  assert.equal(r.code, 1, r.stderr);
  const end = r.events.at(-1)!;
  assert.ok(end.type === 'run-end' && end.status === 'failed' && /does not load in onnxruntime-node/.test(end.error ?? ''), JSON.stringify(end));
  const [id] = runFolders(dir);
  const rec = JSON.parse(readFileSync(path.join(dir, '.qrecipe', 'runs', id!, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(rec.status, 'failed');
  assert.equal(rec.artifacts.exports[0]?.verified, false, 'recorded, marked unverified');
});
