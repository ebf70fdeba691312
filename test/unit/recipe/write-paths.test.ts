// Issue 20 #1 in the checker and in core/util/confine.ts: export paths outside the workspace are
// QR130, over an input (model, side files, the recipe, an import) or into the run store QR131, at
// the path's range, while typing; links in the path are followed; --allow-outside silences QR130
// only. The runner's checks (test/runner/cli/confine.test.ts) use the same function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { fileSystemHost, type WriteRules } from '../../../language-server/core/recipe/host';
import { blocking, checkWrite, occupiedByExport, resolveForWrite } from '../../../language-server/core/util/confine';
import { tinyLm } from './synthetic';

function workspace(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-write-'));
  writeFileSync(path.join(dir, 'm.onnx'), 'x');
  writeFileSync(path.join(dir, 'base.qrecipe'), 'quantize rtn { bits 4 }\n');
  return dir;
}

async function diags(dir: string, exportPath: string, rules?: Partial<WriteRules>) {
  const file = path.join(dir, 'r.qrecipe');
  const text = `use "base.qrecipe"\nmodel "m.onnx"\nexport onnx-qdq ${JSON.stringify(exportPath)}\n`;
  const inv = { ...tinyLm(), path: path.join(dir, 'm.onnx'), externalFiles: [path.join(dir, 'm.onnx.data')] };
  const host = fileSystemHost(async () => inv, () => ({ root: dir, runsRoot: path.join(dir, '.qrecipe', 'runs'), ...rules }));
  const a = await analyze(file, text, host);
  const at = text.indexOf(JSON.stringify(exportPath));
  return a.diagnostics.filter((d) => d.code === 'QR130' || d.code === 'QR131').map((d) => ({ code: d.code, message: d.message, at: d.start === at && d.end === at + JSON.stringify(exportPath).length }));
}

test('checker: outside is QR130, inputs and the run store QR131, at the path; inside is clean', async () => {
  const dir = workspace();
  assert.deepEqual(await diags(dir, 'out/model-w4.onnx'), []);
  const abs = await diags(dir, '/etc/victim.txt');
  assert.equal(abs.length, 1);
  assert.equal(abs[0]!.code, 'QR130');
  assert.ok(abs[0]!.at, 'at the path string');
  assert.match(abs[0]!.message, /--allow-outside .* e\.g\. "out\/victim\.txt"/);
  assert.equal((await diags(dir, '../../x.onnx'))[0]?.code, 'QR130');
  for (const p of ['m.onnx', 'r.qrecipe', 'base.qrecipe', 'm.onnx.data', '.qrecipe/runs/20260101-x/model.onnx']) {
    const d = await diags(dir, p);
    assert.equal(d[0]?.code, 'QR131', p);
  }
  assert.deepEqual(await diags(dir, '/elsewhere/x.onnx', { allowOutside: true }), []);
});

test('confine: links are followed (a folder link out of the workspace, a link to the model), existing files and folders', () => {
  const dir = workspace();
  const outside = mkdtempSync(path.join(os.tmpdir(), 'qr-out-'));
  symlinkSync(outside, path.join(dir, 'out'));
  symlinkSync(path.join(dir, 'm.onnx'), path.join(dir, 'alias.onnx'));
  mkdirSync(path.join(dir, 'folder'));
  writeFileSync(path.join(dir, 'old.onnx'), 'old');
  const policy = { root: dir, protectedFiles: [path.join(dir, 'm.onnx')], protectedDirs: [path.join(dir, '.qrecipe', 'runs')], replaceable: [path.join(dir, 'mine.onnx')] };
  const kinds = (p: string) => checkWrite(path.join(dir, p), policy).map((x) => x.kind);
  assert.deepEqual(kinds('out/a/b.onnx'), ['outside']);
  assert.equal(resolveForWrite(path.join(dir, 'out/a/b.onnx')), path.join(resolveForWrite(outside), 'a', 'b.onnx'));
  assert.deepEqual(kinds('alias.onnx'), ['protected']);
  assert.deepEqual(kinds('folder'), ['protected']);
  assert.deepEqual(kinds('old.onnx'), ['exists']);
  writeFileSync(path.join(dir, 'mine.onnx'), 'an earlier export');
  assert.deepEqual(kinds('mine.onnx'), []);
  assert.deepEqual(kinds('new/dir/x.onnx'), []);
  // what the user may allow
  const both = checkWrite(path.join(outside, 'old'), { ...policy });
  writeFileSync(path.join(outside, 'old'), '');
  const again = checkWrite(path.join(outside, 'old'), policy);
  assert.deepEqual(again.map((p) => p.kind), ['outside', 'exists']);
  assert.deepEqual(blocking(again, { allowOutside: true }).map((p) => p.kind), ['exists']);
  assert.deepEqual(blocking(again, { allowOutside: true, force: true }), []);
  assert.deepEqual(blocking(checkWrite(path.join(dir, 'alias.onnx'), policy), { allowOutside: true, force: true }).map((p) => p.kind), ['protected']);
  assert.equal(both.length, 1);
});

test('checker: a file already at the export path (or its .data side file) is QR401, a warning at the path, the files the run finds', async () => {
  const dir = workspace();
  const file = path.join(dir, 'r.qrecipe');
  const host = fileSystemHost(async () => ({ ...tinyLm(), path: path.join(dir, 'm.onnx') }), () => ({ root: dir, runsRoot: path.join(dir, '.qrecipe', 'runs') }));
  const at = async (p: string) => {
    const text = `model "m.onnx"\nquantize rtn { bits 4 }\nexport onnx-qdq ${JSON.stringify(p)}\n`;
    const start = text.indexOf(JSON.stringify(p));
    return (await analyze(file, text, host)).diagnostics.filter((d) => d.code === 'QR401').map((d) => ({ severity: d.severity, message: d.message, at: d.start === start && d.end === start + JSON.stringify(p).length }));
  };
  assert.deepEqual(await at('out/m.onnx'), []);
  mkdirSync(path.join(dir, 'out'));
  writeFileSync(path.join(dir, 'out', 'm.onnx.data'), 'side');
  const side = await at('out/m.onnx');
  assert.equal(side.length, 1);
  assert.match(side[0]!.message, /out\/m\.onnx\.data exists already/);
  writeFileSync(path.join(dir, 'out', 'm.onnx'), 'an earlier export');
  const both = await at('out/m.onnx');
  assert.equal(both.length, 1);
  assert.equal(both[0]!.severity, 'warning');
  assert.ok(both[0]!.at, 'at the path string');
  assert.match(both[0]!.message, /m\.onnx and .*m\.onnx\.data exist already: a run will ask before replacing them \(VS Code\) or stop before any compute unless given --force \(CLI\)/);
  assert.deepEqual(occupiedByExport(path.join(dir, 'out', 'm.onnx')), [path.join(dir, 'out', 'm.onnx'), path.join(dir, 'out', 'm.onnx.data')]);
  // over the model: QR131 says it all, no QR401 besides
  assert.deepEqual(await at('m.onnx'), []);
  // without write rules (no workspace known) nothing is checked
  const bare = fileSystemHost(async () => ({ ...tinyLm(), path: path.join(dir, 'm.onnx') }));
  assert.equal((await analyze(file, `model "m.onnx"\nexport onnx-qdq "out/m.onnx"\n`, bare)).diagnostics.filter((d) => d.code === 'QR401').length, 0);
});
