// Exact LLM-MQ allocation speed at 1,000 layers (issue #8: re-solve < 100 ms per slider move).
// Run: npm run bench:mckp. Layers have Llama-3-8B shapes (q/o 4096², k/v 1024×4096, gate/up
// 14336×4096, down 4096×14336), byte costs of group-128 asymmetric codes with 0.5% CSR outliers at
// ≤ 3 bits, and sensitivities spread over five decades. For each candidate set and budget kind it
// times 50 slider positions (p50 / p99 / max), the 200-point frontier and a pin change, and counts
// the answers proven optimal; then checks them against an independent exact DP where one fits
// (bit budgets: costs are small multiples of 2^22 bit·params) and runs three adversarial instances.
import { Allocator } from '../../language-server/core/sensitivity/allocate';
import { layerBytes } from '../../language-server/core/cost/cost';
import { MckpSolver, type MckpItem } from '../../language-server/core/sensitivity/mckp';
import type { LayerSensitivity } from '../../language-server/core/sensitivity/types';
import { Rng } from '../../language-server/core/util/rng';
import { referenceDp } from '../unit/sensitivity/reference-dp';

const shapes: [number, number][] = [[4096, 4096], [1024, 4096], [1024, 4096], [4096, 4096], [14336, 4096], [14336, 4096], [4096, 14336]];

function llamaLayers(count: number, candidates: number[], seed: number): LayerSensitivity[] {
  const r = new Rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const [rows, cols] = shapes[i % shapes.length]!;
    const s = 10 ** (-3 + 5 * r.next());
    const out = (b: number): number => (b <= 3 ? 0.005 : 0);
    return {
      name: `layers.${Math.floor(i / 7)}.p${i % 7}`, op: 'MatMul', rows, cols, params: rows * cols, candidates, metric: 'hessian',
      scores: { hessian: candidates.map((b) => s * 4 ** -(b - 2) * (1 + 0.2 * r.next())) },
      outlierFraction: candidates.map(out), relError: candidates.map(() => 0),
      bytes: candidates.map((b) => layerBytes({ rows, cols }, { bits: b, group: 128, symmetric: false, outliers: out(b) })),
    };
  });
}

function ms(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

for (const candidates of [[2, 3, 4, 8], [2, 3, 4, 5, 6, 8]]) {
  const layers = llamaLayers(1000, candidates, 11);
  for (const kind of ['bytes', 'bits'] as const) {
    const al = new Allocator(layers);
    const build = ms(() => al.prepare([kind]));
    const { min, max } = al.range(kind);
    const times: number[] = [];
    let optimal = 0;
    let worstGap = 0;
    // The first solve of a fresh allocator runs cold (JIT); the slider's later moves are the 50 timed.
    const cold = ms(() => al.solve(kind === 'bytes' ? { kind, bytes: (min + max) / 3 } : { kind, bits: (min + max) / 3 }));
    for (let j = 0; j < 50; j++) {
      // Slider positions between the extremes, not on them (the extremes are trivial).
      const x = min + ((max - min) * (j + 0.5)) / 50;
      let a!: ReturnType<Allocator['solve']>;
      times.push(ms(() => { a = al.solve(kind === 'bytes' ? { kind, bytes: x } : { kind, bits: x }); }));
      if (a.exact) optimal++;
      worstGap = Math.max(worstGap, (a.predicted - a.lowerBound) / a.predicted);
    }
    const front = ms(() => al.frontier(kind, 200));
    const pin = ms(() => { const b = new Allocator(layers, { pins: { [layers[0]!.name]: 8 } }); b.solve(kind === 'bytes' ? { kind, bytes: (min + max) / 2 } : { kind, bits: (min + max) / 2 }); });
    console.log(`${kind.padEnd(5)} budget, 1000 layers x {${candidates.join(',')}}: build ${build.toFixed(1)} ms, first solve ${cold.toFixed(1)} ms; re-solve p50 ${pct(times, 0.5).toFixed(2)} ms, ` +
      `p99 ${pct(times, 0.99).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms (${(pct(times, 0.99) / 100).toFixed(3)}x of 100 ms); ` +
      `proven optimal ${optimal}/50, worst certified gap ${(worstGap * 100).toFixed(4)}%; frontier(200) ${front.toFixed(0)} ms; pin change + solve ${pin.toFixed(1)} ms`);
  }
}

// Independent check: the bit budget's costs are params × bits, multiples of 2^22 here, so a plain
// DP over 2^22-unit steps is exact; its optimum must equal the solver's at every slider position.
{
  const layers = llamaLayers(1000, [2, 3, 4, 8], 11);
  const items: MckpItem[] = layers.map((l) => ({ costs: l.candidates.map((b) => l.params * b), values: l.scores.hessian! }));
  let ref!: ReturnType<typeof referenceDp>;
  const t = ms(() => { ref = referenceDp(items, 1e6); });
  const solver = new MckpSolver(items);
  let worst = 0;
  for (let j = 0; j < 50; j++) {
    const budget = Math.floor(solver.baseCost + ((solver.maxCost - solver.baseCost) * (j + 0.5)) / 50);
    const a = solver.solve(budget).value;
    const b = ref.valueAt(budget);
    worst = Math.max(worst, Math.abs(a - b) / b);
  }
  console.log(`check: reference DP (${ref.units} units, ${t.toFixed(0)} ms) vs solver at 50 bit budgets: largest relative difference ${worst.toExponential(2)}`);
}

// Adversarial: 1,000 identical layers with near-equal sensitivities (ties everywhere), 1,000 layers
// with random non-shape costs (no common structure for dominance to exploit), and a degenerate one.
{
  const r = new Rng(5);
  const same: MckpItem[] = Array.from({ length: 1000 }, () => ({
    costs: [2, 3, 4, 8].map((b) => 4096 * 4096 * b / 8 + 65536),
    values: [2, 3, 4, 8].map((b) => 4 ** -(b - 2) * (1 + 1e-3 * r.next())),
  }));
  const rand: MckpItem[] = Array.from({ length: 1000 }, () => {
    const n = 1e6 + Math.floor(r.next() * 5e7);
    const s = 10 ** (-2 + 4 * r.next());
    return { costs: [2, 3, 4, 8].map((b) => Math.floor((n * b) / 8) + Math.floor(r.next() * 1e4)), values: [2, 3, 4, 8].map((b) => s * 4 ** -(b - 2) * (1 + 0.3 * r.next())) };
  });
  // Degenerate: sensitivity proportional to bytes up to 1e-5 (every layer on the LP's break slope),
  // a subset-sum in disguise; here the work limit is expected to cut in, with a certified gap.
  const flat: MckpItem[] = Array.from({ length: 1000 }, () => {
    const costs = [0, 1, 2, 3].map((k) => (k ? k * 10_000_000 + Math.floor(r.next() * 9_999_991) : 0));
    return { costs, values: costs.map((c) => 1e6 - c * (1 + 1e-5 * r.next())) };
  });
  for (const [name, items] of [['identical layers', same], ['random costs', rand], ['sensitivity ∝ bytes', flat]] as const) {
    const solver = new MckpSolver(items);
    const times: number[] = [];
    let optimal = 0;
    let gap = 0;
    for (let j = 0; j < 50; j++) {
      const budget = Math.floor(solver.baseCost + ((solver.maxCost - solver.baseCost) * (j + 0.5)) / 50);
      let s!: ReturnType<MckpSolver['solve']>;
      times.push(ms(() => { s = solver.solve(budget); }));
      if (s.optimal) optimal++;
      gap = Math.max(gap, (s.value - s.lowerBound) / Math.abs(s.value));
    }
    console.log(`adversarial, ${name}: re-solve p50 ${pct(times, 0.5).toFixed(2)} ms, p99 ${pct(times, 0.99).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms; ` +
      `proven optimal ${optimal}/50, worst certified gap ${gap.toExponential(1)} (relative)`);
  }
}
