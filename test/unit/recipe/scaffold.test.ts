// "New Recipe from Model" and `qrecipe init --model` write a recipe the language accepts for the
// model it came from: with the data files the user picked, or with placeholders a comment names.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scaffoldText } from '../../../language-server/core/recipe/scaffold';
import { checkFile } from '../../../language-server/core/recipe/check';
import { readInventory } from '../../../language-server/core/model/inventory';

const root = path.resolve(__dirname, '../../../..'); // out/test/unit/recipe -> repo
const tinyLm = path.join(root, 'test/fixtures/tiny-lm/model.onnx');

async function errorsOf(recipe: string): Promise<string[]> {
  const { records } = await checkFile(recipe, (p) => readInventory(p));
  return records.filter((r) => r.severity === 'error').map((r) => `${r.code} ${r.message}`);
}

test('a scaffolded recipe for the tiny LM checks clean once its placeholder data files exist', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scaffold-'));
  const model = path.join(dir, 'model.onnx');
  copyFileSync(tinyLm, model);
  const recipe = path.join(dir, 'model.qrecipe');
  const text = scaffoldText(await readInventory(model), model, recipe);
  writeFileSync(recipe, text);
  assert.match(text, /^model "model\.onnx"$/m);
  assert.match(text, /ignore "lm_head"/);
  assert.match(text, /group 64/, '192 and 512 input features: 64 is the largest group dividing all');
  assert.match(text, /# Put your own calibration and evaluation text/);
  assert.ok((await errorsOf(recipe)).some((e) => e.startsWith('QR116')), 'the placeholders are missing files until written');
  for (const f of ['calib.txt', 'heldout.txt']) writeFileSync(path.join(dir, f), 'some text '.repeat(200));
  assert.deepEqual(await errorsOf(recipe), []);
});

test('a scaffolded recipe uses the data files picked for it, relative to the recipe, and checks clean at once', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scaffold-'));
  mkdirSync(path.join(dir, 'models'));
  mkdirSync(path.join(dir, 'text'));
  const model = path.join(dir, 'models', 'lm.onnx');
  copyFileSync(tinyLm, model);
  writeFileSync(path.join(dir, 'text', 'train.txt'), 'some calibration text '.repeat(200));
  writeFileSync(path.join(dir, 'text', 'valid.txt'), 'some evaluation text '.repeat(200));
  const recipe = path.join(dir, 'recipes', 'lm.qrecipe');
  mkdirSync(path.dirname(recipe));
  const text = scaffoldText(await readInventory(model), model, recipe, { calib: '../text/train.txt', heldout: '../text/valid.txt' });
  writeFileSync(recipe, text);
  assert.match(text, /^model "\.\.\/models\/lm\.onnx"$/m);
  assert.match(text, /data calib \{ text "\.\.\/text\/train\.txt"/);
  assert.match(text, /data heldout \{ text "\.\.\/text\/valid\.txt"/);
  assert.doesNotMatch(text, /Put your own/);
  assert.deepEqual(await errorsOf(recipe), []);
});
