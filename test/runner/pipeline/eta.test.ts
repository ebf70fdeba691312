// The block-wise ETA (pipeline/eta.ts) on a simulated clock: nothing before the first block ends,
// then the stage's remaining time from the recent block times (within 30 % from the first block to
// the middle of the stage when blocks vary by ±20 %), and the current block's own remaining time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BlockEta } from '../../../extension/runner/pipeline/eta';
import type { PartEvent } from '../../../extension/runner/engine/calibrate/blockwise';
import type { PartPlan } from '../../../extension/runner/engine/blocks/plan';

test('BlockEta: stage ETA within 30 % after the first block (to mid-stage) of blocks whose times vary by ±20 %', () => {
  let t = 0;
  const eta = new BlockEta(() => t);
  const groups = 12;
  const cost = (g: number): number => 10_000 * (1 + 0.2 * Math.sin(g * 1.7)); // ms per block
  const part = { label: 'layers.x' } as PartPlan;
  const ev = (group: number, phase: PartEvent['phase'], done: number, total: number): void => eta.onPart({ part, group, groups, phase, done, total });
  const total = Array.from({ length: groups }, (_, g) => cost(g)).reduce((a, b) => a + b, 0);
  let elapsed = 0;
  for (let g = 0; g < groups; g++) {
    ev(g, 'capture', 0, 4);
    if (g === 0) assert.equal(eta.stageEta(), undefined, 'no estimate before the first block ends');
    // at the start of block g (g ≥ 1), up to the middle of the stage (near the end, one block's noise is the whole rest)
    if (g >= 1 && g <= groups / 2) {
      const actual = (total - elapsed) / 1000;
      const predicted = eta.stageEta()!;
      assert.ok(Math.abs(predicted - actual) <= 0.3 * actual, `at the start of block ${g + 1}: ${predicted.toFixed(1)} s vs ${actual.toFixed(1)} s`);
    }
    t += cost(g) * 0.5;
    ev(g, 'compress', 0, 7);
    t += cost(g) * 0.3;
    ev(g, 'forward', 0, 4);
    t += cost(g) * 0.2;
    ev(g, 'forward', 4, 4);
    elapsed += cost(g);
  }
  assert.ok(eta.forwardSecondsPerBatch! > 0);
  assert.ok(eta.blockEta()! >= 0);
});
