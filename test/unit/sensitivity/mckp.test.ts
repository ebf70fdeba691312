import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MckpSolver, bruteForce, type MckpItem } from '../../../language-server/core/sensitivity/mckp';
import { Rng } from '../../../language-server/core/util/rng';
import { referenceDp } from './reference-dp';

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

/** Unstructured instance: arbitrary order, equal costs, zero costs, tied and rising values, single-choice items. */
function wild(r: () => number, items: number): MckpItem[] {
  return Array.from({ length: items }, () => {
    const choices = 1 + Math.floor(r() * 5);
    const costs = Array.from({ length: choices }, () => (r() < 0.1 ? 0 : Math.floor(r() * 20)));
    const values = Array.from({ length: choices }, () => (r() < 0.15 ? 1 : Math.round(r() * 40) / 4));
    return { costs, values };
  });
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

function checkAgainstBruteForce(items: MckpItem[], budgets: number[], what: string): number {
  const solver = new MckpSolver(items);
  let checked = 0;
  for (const budget of budgets) {
    const bf = bruteForce(items, budget);
    const s = solver.solve(budget);
    if (!bf) { assert.equal(s.feasible, false, `${what}: budget ${budget} is below every assignment`); continue; }
    assert.ok(s.feasible && s.optimal, `${what}: budget ${budget} solved and proven`);
    assert.ok(s.cost <= budget, `${what}: cost ${s.cost} within budget ${budget}`);
    assert.ok(close(s.value, bf.value), `${what} budget ${budget}: solver ${s.value} vs brute force ${bf.value}`);
    assert.equal(s.lowerBound, s.value, 'a proven answer is its own bound');
    assert.ok(solver.lpBound(budget) <= bf.value + 1e-9, `LP bound ${solver.lpBound(budget)} must not exceed the optimum ${bf.value}`);
    checked++;
  }
  return checked;
}

/** The solver is optimal, within budget and equal to the reference DP at `budgets` evenly spread budgets. */
function agreesWithDp(items: MckpItem[], ref: ReturnType<typeof referenceDp>, budgets: number): void {
  const solver = new MckpSolver(items);
  for (let j = 0; j < budgets; j++) {
    const budget = Math.floor(solver.baseCost + ((solver.maxCost - solver.baseCost) * (j + 0.5)) / budgets);
    const s = solver.solve(budget);
    assert.ok(s.optimal && s.cost <= budget);
    assert.ok(close(s.value, ref.valueAt(budget)), `budget ${budget}: solver ${s.value} vs DP ${ref.valueAt(budget)}`);
  }
}

test('the solver is optimal: equals brute force on 300 random small instances at many budgets', () => {
  const r = rng(42);
  let checked = 0;
  for (let t = 0; t < 300; t++) {
    const items = instance(r, 1 + Math.floor(r() * 7), 1 + Math.floor(r() * 4), 1 + Math.floor(r() * 3));
    const s = new MckpSolver(items);
    const budgets = Array.from({ length: 8 }, () => Math.floor(s.baseCost - 5 + r() * (s.maxCost - s.baseCost + 10)));
    checked += checkAgainstBruteForce(items, budgets, `instance ${t}`);
  }
  assert.ok(checked > 1500, `checked ${checked} feasible queries`);
});

test('optimal on unstructured instances too: non-convex choices, ties, zero and equal costs (brute force, every budget)', () => {
  const r = rng(9);
  let checked = 0;
  for (let t = 0; t < 200; t++) {
    const items = wild(r, 1 + Math.floor(r() * 7));
    const s = new MckpSolver(items);
    const budgets = Array.from({ length: s.maxCost - s.baseCost + 3 }, (_, j) => s.baseCost - 1 + j);
    checked += checkAgainstBruteForce(items, budgets, `wild instance ${t}`);
  }
  assert.ok(checked > 2000, `checked ${checked} feasible queries`);
});

test('at 1,000 items the solver equals an independent exact DP (small integer costs) at 40 budgets', () => {
  const r = rng(2026);
  // Sensitivities over five decades, costs 1–30 units rising with the width, some choices off the hull.
  const items: MckpItem[] = Array.from({ length: 1000 }, () => {
    const s = 10 ** (-3 + 5 * r());
    const n = 1 + Math.floor(r() * 6);
    return { costs: [2, 3, 4, 5].map((b) => n * b + Math.floor(r() * 3)), values: [2, 3, 4, 5].map((b) => s * 4 ** -(b - 2) * (1 + 0.5 * r())) };
  });
  agreesWithDp(items, referenceDp(items), 40);
});

test('at 500 Llama-shaped layers (bit budget: params × bits) the solver equals the exact DP at 20 budgets', () => {
  const r = rng(8);
  const params = [4096 * 4096, 1024 * 4096, 1024 * 4096, 4096 * 4096, 14336 * 4096, 14336 * 4096, 4096 * 14336];
  const items: MckpItem[] = Array.from({ length: 500 }, (_, i) => {
    const s = 10 ** (-3 + 5 * r());
    return { costs: [2, 3, 4, 8].map((b) => params[i % 7]! * b), values: [2, 3, 4, 8].map((b) => s * 4 ** -(b - 2) * (1 + 0.2 * r())) };
  });
  agreesWithDp(items, referenceDp(items, 1e6), 20);
});

test('a state limit gives a feasible answer, never better than the optimum, with a true certified bound', () => {
  const r = rng(7);
  let cut = 0;
  for (let t = 0; t < 80; t++) {
    const items = instance(r, 4 + Math.floor(r() * 4), 3 + Math.floor(r() * 2), 3);
    const limited = new MckpSolver(items, { maxStates: 1 });
    for (let q = 0; q < 6; q++) {
      const budget = Math.floor(limited.baseCost + r() * (limited.maxCost - limited.baseCost));
      const s = limited.solve(budget);
      const opt = bruteForce(items, budget)!;
      assert.ok(s.cost <= budget, 'never over budget');
      assert.ok(s.value >= opt.value - 1e-9, 'cannot beat the optimum');
      assert.ok(s.lowerBound <= opt.value + 1e-9, 'the certificate is a true lower bound');
      if (s.optimal) assert.ok(close(s.value, opt.value), 'an answer marked optimal is optimal');
      else cut++;
    }
  }
  assert.ok(cut > 0, 'the limit did cut some searches short');
});

test('a work limit stops the search with a feasible answer and a true certificate (30 items, exact DP)', () => {
  const r = rng(17);
  let cut = 0;
  for (let t = 0; t < 20; t++) {
    const items = instance(r, 30, 4, 1);
    const ref = referenceDp(items);
    for (const opts of [{ maxWork: 40 }, { maxStates: 5 }]) {
      const limited = new MckpSolver(items, opts);
      for (let q = 0; q < 5; q++) {
        const budget = Math.floor(limited.baseCost + r() * (limited.maxCost - limited.baseCost));
        const s = limited.solve(budget);
        const opt = ref.valueAt(budget);
        assert.ok(s.cost <= budget && s.value >= opt - 1e-9 && s.lowerBound <= opt + 1e-9, `instance ${t} budget ${budget} ${JSON.stringify(opts)}`);
        if (s.optimal) assert.ok(close(s.value, opt));
        else cut++;
      }
    }
  }
  assert.ok(cut > 10, `the limits cut ${cut} searches short`);
});

test('the frontier is a staircase: cost rises, value falls, each point optimal for its cost', () => {
  const r = rng(3);
  for (const items of [instance(r, 6, 4, 1), wild(r, 6)]) {
    const t = new MckpSolver(items);
    const f = t.frontier(1000);
    assert.ok(f.length >= 2);
    for (let i = 1; i < f.length; i++) {
      assert.ok(f[i]!.cost > f[i - 1]!.cost, 'a better point must cost more, else it was affordable before');
      assert.ok(f[i]!.value < f[i - 1]!.value, 'strictly better with more budget');
    }
    const opt = Array.from({ length: t.maxCost + 1 }, (_, b) => bruteForce(items, b)?.value ?? Infinity);
    for (const p of f) assert.ok(close(p.value, opt[p.cost]!));
    // With points to spare, every step of the staircase is there.
    for (let b = t.baseCost; b <= t.maxCost; b++) assert.ok(f.some((p) => close(p.value, opt[b]!)), `budget ${b}'s optimum is on the frontier`);
    assert.ok(t.frontier(5).length <= 5, 'down-sampled on request');
  }
});

test('at 1,000 items the frontier points are optimal for their costs (exact DP) and spread over the range', () => {
  const r = rng(12);
  const items: MckpItem[] = Array.from({ length: 1000 }, () => {
    const s = 10 ** (-2 + 4 * r());
    return { costs: [2, 3, 4, 8].map((b) => b * 3 + Math.floor(r() * 2)), values: [2, 3, 4, 8].map((b) => s * 2 ** -b * (1 + 0.3 * r())) };
  });
  const solver = new MckpSolver(items);
  const ref = referenceDp(items);
  const f = solver.frontier(200);
  assert.ok(f.length > 150 && f.length <= 200, `${f.length} points`);
  for (const p of f) assert.ok(close(p.value, ref.valueAt(p.cost)), `cost ${p.cost}: ${p.value} vs DP ${ref.valueAt(p.cost)}`);
  assert.equal(f[0]!.cost, solver.baseCost);
  assert.ok(f.at(-1)!.cost > solver.baseCost + 0.9 * (solver.maxCost - solver.baseCost));
});

test('the LP bound is tight where the hull greedy is integral (one item, budget at a hull vertex)', () => {
  const t = new MckpSolver([{ costs: [2, 3, 4, 8], values: [10, 4, 3, 0] }]);
  // Hull from (2,10): (3,4) slope −6, then (4,3) slope −1 vs (8,0) slope −0.75 → (4,3) on the hull.
  assert.equal(t.lpBound(3), 4);
  assert.equal(t.lpBound(6), 1.5);
  assert.equal(t.lpBound(1), Infinity);
  assert.equal(t.solve(6).value, 3);
});

test('byte-sized costs need no scaling: GiB budgets with odd byte counts are solved exactly', () => {
  const r = rng(21);
  const items: MckpItem[] = Array.from({ length: 7 }, () => {
    const n = 3e8 + Math.floor(r() * 1e8);
    return { costs: [2, 3, 4, 8].map((b) => Math.ceil((n * b) / 8) + 1 + Math.floor(r() * 999)), values: [2, 3, 4, 8].map((b) => r() * 4 ** -b) };
  });
  const s = new MckpSolver(items);
  const budgets = Array.from({ length: 30 }, (_, j) => Math.floor(s.baseCost + ((s.maxCost - s.baseCost) * j) / 29));
  assert.ok(checkAgainstBruteForce(items, budgets, 'GiB instance') === 30);
});

test('bad input is refused with the item named', () => {
  assert.throws(() => new MckpSolver([{ costs: [1.5], values: [0] }]), /item 0: cost 1.5/);
  assert.throws(() => new MckpSolver([{ costs: [1, 2], values: [0] }]), /same length/);
  assert.throws(() => new MckpSolver([{ costs: [1], values: [NaN] }]), /not finite/);
  assert.throws(() => new MckpSolver([{ costs: [2 ** 52], values: [0] }, { costs: [2 ** 52], values: [0] }]), /exceeds 2\^53/);
  assert.throws(() => new MckpSolver([{ costs: [1, 2], values: [1, 0] }]).solve(NaN), /not a number/);
  assert.equal(new MckpSolver([{ costs: [1, 2], values: [1, 0] }]).solve(Infinity).value, 0, 'an unbounded budget takes the best choices');
});
