// "New Recipe from Model" must write a recipe the language accepts for the model it came from.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scaffoldRecipe } from '../../../extension/src/scaffold';
import { checkFile } from '../../../language-server/core/recipe/check';
import { readInventory } from '../../../language-server/core/model/inventory';

const root = path.resolve(__dirname, '../../../..'); // out/test/unit/extension -> repo
const tinyLm = path.join(root, 'test/fixtures/tiny-lm/model.onnx');

test('a scaffolded recipe for the tiny LM checks clean once its data files exist', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scaffold-'));
  const model = path.join(dir, 'model.onnx');
  copyFileSync(tinyLm, model);
  const recipe = path.join(dir, 'model.qrecipe');
  const text = await scaffoldRecipe(model, recipe);
  writeFileSync(recipe, text);
  for (const f of ['calib.txt', 'heldout.txt']) writeFileSync(path.join(dir, f), 'some text '.repeat(200));
  assert.match(text, /^model "model\.onnx"$/m);
  assert.match(text, /ignore "lm_head"/);
  assert.match(text, /group 64/, '192 and 512 input features: 64 is the largest group dividing all');
  const { records } = await checkFile(recipe, (p) => readInventory(p));
  assert.deepEqual(records.filter((r) => r.severity === 'error').map((r) => `${r.code} ${r.message}`), []);
});
