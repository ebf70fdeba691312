// The schema is the one source of the language's defaults and of the limits it shares with the
// native backend: every default must be a valid value of its key (typed by the same checker as a
// value written in a recipe), and the native limits must be the ones the schema checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEYS } from '../../../language-server/core/recipe/schema';
import { defaultValue } from '../../../language-server/core/recipe/values';
import { NM_MAX_M, QUANT_BITS } from '../../../native/limits';

test('every default of the schema is a valid value of its key', () => {
  const typed = Object.fromEntries(KEYS.filter((k) => k.default !== undefined).map((k) => [k.name, defaultValue(k)]));
  assert.deepEqual(typed, {
    tokenizer: 'byte', samples: 128, seqlen: 2048, seed: 0, sparsity: 0.5, pattern: 'unstructured', quantizer: 'rtn', bits: 4, group: 128,
    scheme: 'asymmetric', actorder: false, dampening: 0.01, block: 128, outliers: 0, candidates: [2, 3, 4], metric: 'fisher',
  });
});

test('a default that is not a value of its key is refused', () => {
  assert.throws(() => defaultValue({ ...KEYS.find((k) => k.name === 'bits')!, default: '9' }), /between 2 and 8/);
  assert.throws(() => defaultValue({ ...KEYS.find((k) => k.name === 'targets')! }), /no default/);
});

test('bit widths and N:M limits are the native backend\'s', () => {
  const bits = KEYS.find((k) => k.name === 'bits')!.type;
  assert.deepEqual(bits, { kind: 'int', min: QUANT_BITS.min, max: QUANT_BITS.max });
  assert.deepEqual(KEYS.find((k) => k.name === 'candidates')!.type, { kind: 'bits-list', min: QUANT_BITS.min, max: QUANT_BITS.max });
  assert.deepEqual(KEYS.find((k) => k.name === 'pattern')!.type, { kind: 'nm', maxM: NM_MAX_M });
});
