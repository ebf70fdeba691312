// Allocation solver speed on an LLM-sized problem: 1,000 layers × 4 candidate widths.
// Run: npm run bench:sensitivity. Prints the one-off solver build, the per-query re-solve (what a
// budget slider triggers) and a pin change (rebuild), with the ratio to the 100 ms UI target.
// npm run bench:mckp has percentiles, more candidate sets and adversarial instances.
import { Allocator } from '../../language-server/core/sensitivity/allocate';
import { layerBytes } from '../../language-server/core/cost/cost';
import type { LayerSensitivity } from '../../language-server/core/sensitivity/types';
import { referenceDp } from '../unit/sensitivity/reference-dp';

const shapes = [[4096, 4096], [4096, 4096], [4096, 4096], [4096, 4096], [11008, 4096], [11008, 4096], [4096, 11008]];
let seed = 1;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const candidates = [2, 3, 4, 8];
const layers: LayerSensitivity[] = Array.from({ length: 1000 }, (_, i) => {
  const [rows, cols] = shapes[i % shapes.length]!;
  const s = rand() * 10;
  return {
    name: `layers.${Math.floor(i / 7)}.p${i % 7}`, op: 'MatMul', rows: rows!, cols: cols!, params: rows! * cols!, candidates, metric: 'hessian',
    scores: { hessian: candidates.map((b) => s * 4 ** -(b - 2) * (1 + 0.1 * rand())) },
    outlierFraction: candidates.map((b) => (b === 2 ? 0.005 : 0)), relError: candidates.map(() => 0),
    bytes: candidates.map((b) => layerBytes({ rows: rows!, cols: cols! }, { bits: b, group: 128, symmetric: false, outliers: b === 2 ? 0.005 : 0 })),
  };
});

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

for (const kind of ['bytes', 'bits'] as const) {
  const [al, build] = time(() => { const a = new Allocator(layers); a.prepare([kind]); return a; });
  const { min, max } = al.range(kind);
  const n = 500;
  let gap = 0;
  let proven = 0;
  const [, all] = time(() => {
    for (let j = 0; j < n; j++) {
      const x = min + ((max - min) * j) / (n - 1);
      const a = al.solve(kind === 'bytes' ? { kind, bytes: x } : { kind, bits: x });
      gap = Math.max(gap, (a.predicted - a.lowerBound) / a.predicted);
      if (a.exact) proven++;
    }
  });
  const [, front] = time(() => al.frontier(kind, 200));
  const [, pin] = time(() => { const a = new Allocator(layers, { pins: { [layers[0]!.name]: 8 } }); a.prepare([kind]); return a; });
  const q = all / n;
  console.log(`${kind.padEnd(5)} budget, 1000 layers x 4 widths: build ${build.toFixed(1)} ms (${(build / 100).toFixed(2)}x of 100 ms), ` +
    `re-solve ${q.toFixed(3)} ms/query (${(q / 100).toFixed(4)}x of 100 ms), frontier(200) ${front.toFixed(1)} ms, pin change ${pin.toFixed(1)} ms; proven optimal ${proven}/${n}, worst certified gap to the optimum ${(gap * 100).toFixed(3)}%`);
}

// The bit budget's costs are multiples of 2^20 params·bits here, so a plain DP over those units is
// an exact, independent reference: the solver's answers must equal it.
{
  const items = layers.map((l) => ({ costs: l.candidates.map((b) => l.params * b), values: l.scores.hessian! }));
  const [ref, build] = time(() => referenceDp(items, 1e6));
  const al = new Allocator(layers);
  let worst = 0;
  for (let j = 0; j < 100; j++) {
    const bits = 2 + (6 * j) / 99;
    const got = al.solve({ kind: 'bits', bits });
    const opt = ref.valueAt(Math.floor(bits * al.totalParams + 1e-6));
    worst = Math.max(worst, Math.abs(got.predicted - opt) / opt);
  }
  console.log(`bits  budget: reference DP (${ref.units} units) built in ${build.toFixed(0)} ms; solver answers within ${(worst * 100).toFixed(4)}% of its optimum over 100 budgets`);
}
