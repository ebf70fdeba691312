// The deployable export folder: companions copied, genai_config.json retargeted at the export,
// a README with the facts; a user's file already there with other content is never overwritten,
// QRecipe's own earlier README / genai_config are; an export inside the model's folder leaves the
// source's genai_config alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { writeDeployFolder, retargetGenaiConfig } from '../../../extension/runner/export/deploy-folder';
import type { ExportRecord } from '../../../language-server/core/protocol/runner';

const hash = async (f: string): Promise<string> => createHash('sha256').update(new Uint8Array(readFileSync(f))).digest('hex');
const record: ExportRecord = { path: '', format: 'onnx-matmulnbits', bytes: 10, verified: true, layers: [{ name: 'q', encoding: 'matmulnbits', bits: 4, bytes: 5 }], bitsPerWeight: 4.5 };

function folders(): { src: string; dst: string; model: string; out: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'qr-deploy-'));
  const src = path.join(root, 'src');
  const dst = path.join(root, 'dst');
  mkdirSync(src);
  mkdirSync(dst);
  writeFileSync(path.join(src, 'model.onnx'), 'source');
  writeFileSync(path.join(src, 'config.json'), '{"model_type":"llama"}');
  writeFileSync(path.join(src, 'tokenizer.json'), '{"model":{}}');
  writeFileSync(path.join(src, 'genai_config.json'), JSON.stringify({ model: { decoder: { filename: 'model.onnx', head_size: 32 } }, search: {} }));
  writeFileSync(path.join(dst, 'w4.onnx'), 'export');
  return { src, dst, model: path.join(src, 'model.onnx'), out: path.join(dst, 'w4.onnx') };
}

test('companions copied, genai_config names the export, README written; the user\'s files are kept', async () => {
  const f = folders();
  writeFileSync(path.join(f.dst, 'tokenizer.json'), 'the user\'s own');
  const provenance = { recipePath: '/r.qrecipe', recipeText: 'model "m.onnx"\n', recipeHash: 'abc', modelPath: f.model, modelHash: 'def', metrics: { original: { perplexity: 10 }, compressed: { perplexity: 10.5 } }, stages: ['gptq 4 bit, group 32 on 14 layers'] };
  const r = await writeDeployFolder({ exportPath: f.out, sourceModel: f.model, record, provenance, hash });
  assert.deepEqual(r.written.sort(), ['README.md', 'config.json', 'genai_config.json']);
  assert.match(r.warnings.join(), /tokenizer\.json already exists with other content/);
  assert.equal(readFileSync(path.join(f.dst, 'tokenizer.json'), 'utf8'), 'the user\'s own');
  const g = JSON.parse(readFileSync(path.join(f.dst, 'genai_config.json'), 'utf8')) as { model: { decoder: { filename: string; head_size: number } } };
  assert.deepEqual(g.model.decoder, { filename: 'w4.onnx', head_size: 32 });
  const readme = readFileSync(path.join(f.dst, 'README.md'), 'utf8');
  for (const s of ['gptq 4 bit, group 32', 'sha256 `def`', await hash(f.out), '| perplexity | 10 | 10.5000 |', 'model "m.onnx"']) assert.ok(readme.includes(s), s);
  // Again (another run into the same folder): QRecipe's README and genai_config are replaced, quietly.
  const again = await writeDeployFolder({ exportPath: f.out, sourceModel: f.model, record, provenance: { ...provenance, modelHash: 'xyz' }, hash });
  assert.deepEqual(again.warnings.filter((w) => !/tokenizer\.json/.test(w)), []);
  assert.match(readFileSync(path.join(f.dst, 'README.md'), 'utf8'), /sha256 `xyz`/);
  // A README the user wrote is not.
  writeFileSync(path.join(f.dst, 'README.md'), '# mine\n');
  const third = await writeDeployFolder({ exportPath: f.out, sourceModel: f.model, record, provenance, hash });
  assert.match(third.warnings.join(), /README\.md already exists/);
  assert.equal(readFileSync(path.join(f.dst, 'README.md'), 'utf8'), '# mine\n');
});

test('an export in the source model\'s own folder leaves its genai_config naming the source', async () => {
  const f = folders();
  const out = path.join(f.src, 'model-w4.onnx');
  writeFileSync(out, 'export');
  const r = await writeDeployFolder({ exportPath: out, sourceModel: f.model, record, hash });
  assert.match(r.warnings.join(), /still names the source model/);
  assert.equal((JSON.parse(readFileSync(path.join(f.src, 'genai_config.json'), 'utf8')) as { model: { decoder: { filename: string } } }).model.decoder.filename, 'model.onnx');
  // Another model shares the folder: the README is named after the export.
  assert.deepEqual(r.written, ['model-w4.README.md']);
});

test('a genai_config without a decoder section is refused by name', () => {
  assert.throws(() => retargetGenaiConfig('{"model":{}}', 'x.onnx', '/m/genai_config.json'), /\/m\/genai_config.json: no model.decoder/);
});
