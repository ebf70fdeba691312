import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MckpTable, bruteForce, type MckpItem } from '../../../language-server/core/sensitivity/mckp';
import { Rng } from '../../../language-server/core/util/rng';

/** Seeded so that failures reproduce. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Random instance: costs rising with the choice index, values falling (as bits vs sensitivity), plus noise. */
function instance(r: () => number, items: number, choices: number, scale: number): MckpItem[] {
  return Array.from({ length: items }, () => {
    const n = 1 + Math.floor(r() * 50);
    const costs = Array.from({ length: choices }, (_, k) => n * (2 + k) * scale + Math.floor(r() * 7 * scale));
    const values = Array.from({ length: choices }, (_, k) => r() * 10 / (1 + k) + (r() < 0.2 ? r() * 5 : 0));
    return { costs, values };
  });
}

test('the DP is optimal: equals brute force on 300 random small instances at many budgets', () => {
  const r = rng(42);
  let checked = 0;
  for (let t = 0; t < 300; t++) {
    const items = instance(r, 1 + Math.floor(r() * 7), 1 + Math.floor(r() * 4), 1 + Math.floor(r() * 3));
    const table = new MckpTable(items);
    assert.ok(table.exact, 'small instances use an exact unit');
    for (let q = 0; q < 8; q++) {
      const budget = Math.floor(table.baseCost - 5 + r() * (table.maxCost - table.baseCost + 10));
      const bf = bruteForce(items, budget);
      const dp = table.solve(budget);
      if (!bf) { assert.equal(dp.feasible, false, `budget ${budget} below every assignment`); continue; }
      assert.ok(dp.feasible);
      assert.ok(dp.cost <= budget, `cost ${dp.cost} within budget ${budget}`);
      assert.ok(Math.abs(dp.value - bf.value) <= 1e-9 * Math.max(1, bf.value), `instance ${t} budget ${budget}: dp ${dp.value} vs brute force ${bf.value}`);
      assert.ok(Math.abs(table.valueAt(budget) - bf.value) <= 1e-9 * Math.max(1, bf.value));
      assert.ok(dp.lowerBound <= bf.value + 1e-9, `LP bound ${dp.lowerBound} must not exceed the optimum ${bf.value}`);
      checked++;
    }
  }
  assert.ok(checked > 1500, `checked ${checked} feasible queries`);
});

test('costs with a large common factor use it as the unit and stay exact', () => {
  const items: MckpItem[] = [
    { costs: [4096 * 2, 4096 * 3, 4096 * 4], values: [9, 4, 1] },
    { costs: [8192 * 2, 8192 * 3, 8192 * 4], values: [5, 3, 0.5] },
  ];
  const t = new MckpTable(items);
  assert.equal(t.unit, 4096);
  assert.ok(t.exact);
  assert.equal(t.solve(4096 * 3 + 8192 * 4).value, bruteForce(items, 4096 * 3 + 8192 * 4)!.value);
});

test('a capped table (coarse unit) is never over budget, never beats the optimum, and its certificate holds', () => {
  const r = rng(7);
  for (let t = 0; t < 60; t++) {
    const items = instance(r, 2 + Math.floor(r() * 5), 2 + Math.floor(r() * 2), 3);
    const table = new MckpTable(items, { maxCells: items.length * 12 });
    assert.equal(table.exact, false);
    for (let q = 0; q < 6; q++) {
      const budget = Math.floor(table.baseCost + r() * (table.maxCost - table.baseCost));
      const dp = table.solve(budget);
      const opt = bruteForce(items, budget)!;
      assert.ok(dp.cost <= budget, 'rounding up keeps the answer feasible');
      assert.ok(dp.value >= opt.value - 1e-9, 'cannot beat the optimum');
      assert.ok(dp.lowerBound <= opt.value + 1e-9, 'the certificate is a true lower bound');
    }
  }
});

test('the frontier is a staircase: cost rises, value falls, each point optimal for its cost', () => {
  const r = rng(3);
  const items = instance(r, 6, 4, 1);
  const t = new MckpTable(items);
  const f = t.frontier(1000);
  assert.ok(f.length >= 2);
  for (let i = 1; i < f.length; i++) {
    assert.ok(f[i]!.cost > f[i - 1]!.cost, 'a better point must cost more, else it was affordable before');
    assert.ok(f[i]!.value < f[i - 1]!.value, 'strictly better with more budget');
  }
  for (const p of f) assert.ok(Math.abs(p.value - bruteForce(items, p.cost)!.value) < 1e-9);
  assert.ok(t.frontier(5).length <= 5, 'down-sampled on request');
});

test('the LP bound is tight where the hull greedy is integral (one item, budget at a hull vertex)', () => {
  const t = new MckpTable([{ costs: [2, 3, 4, 8], values: [10, 4, 3, 0] }]);
  // Hull from (2,10): (3,4) slope −6, then (4,3) slope −1 vs (8,0) slope −0.75 → (4,3) on the hull.
  assert.equal(t.lowerBound(3), 4);
  assert.equal(t.lowerBound(6), 1.5);
  assert.equal(t.solve(6).value, 3);
});

test('bad input is refused with the item named', () => {
  assert.throws(() => new MckpTable([{ costs: [1.5], values: [0] }]), /item 0: cost 1.5/);
  assert.throws(() => new MckpTable([{ costs: [1, 2], values: [0] }]), /same length/);
  assert.throws(() => new MckpTable([{ costs: [1], values: [NaN] }]), /not finite/);
});
