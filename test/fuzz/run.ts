// `npm run test:fuzz`: the seeded fuzz families of issue 20, each for its share of a time budget,
// printing how many cases each tried and every failure (with the seed and input to reproduce it).
//   node test/fuzz.mjs [--seconds N (default 120)] [--seed S (default: time)] [--family NAME]
// The unit suite runs a short, fixed-seed version of each family (test/unit/safety/fuzz-short.test.ts,
// test/unit/recipe/regex.test.ts, test/unit/runs/store-damage.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FuzzResult } from './family';
import { fuzzPatterns } from './patterns';
import { fuzzRecipes } from './recipes';
import { fuzzOnnxHeaders } from './onnx-headers';
import { fuzzRunRecords } from './run-records';
import { fuzzQuantStore } from './quant-store';

const arg = (name: string): string | undefined => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
const seconds = Number(arg('seconds') ?? 120);
const seed = Number(arg('seed') ?? Date.now() % 1_000_000);
const only = arg('family');

const families: Record<string, (seed: number, deadline: number) => Promise<FuzzResult> | FuzzResult> = {
  recipes: (s, d) => fuzzRecipes(s, d),
  patterns: (s, d) => fuzzPatterns(s, d),
  'onnx-headers': (s, d) => fuzzOnnxHeaders(s, d),
  'run-records': async (s, d) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-fuzz-runs-'));
    try { return await fuzzRunRecords(s, dir, d); } finally { rmSync(dir, { recursive: true, force: true }); }
  },
  'quant-store': (s, d) => fuzzQuantStore(s, d),
};

async function main(): Promise<number> {
  const names = only ? [only] : Object.keys(families);
  if (names.some((n) => !families[n])) { console.error(`unknown family; families: ${Object.keys(families).join(', ')}`); return 2; }
  console.log(`fuzz: ${names.join(', ')}; seed ${seed}; ${seconds} s in all`);
  let failed = 0;
  for (const name of names) {
    const t0 = performance.now();
    const r = await families[name]!(seed, t0 + (seconds * 1000) / names.length);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`${name.padEnd(14)} ${String(r.cases).padStart(8)} cases  ${String(r.failures.length).padStart(3)} failures  ${s} s${r.notes?.length ? `  (${r.notes.join('; ')})` : ''}`);
    for (const f of r.failures.slice(0, 10)) console.log(`  FAIL ${f.slice(0, 2000)}`);
    failed += r.failures.length;
  }
  console.log(failed ? `${failed} failures (reproduce with --seed ${seed})` : 'no failures');
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
