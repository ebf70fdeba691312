// The one entry of `npm test`: bundles the TypeScript test files with esbuild into out/test/ and
// runs each suite with node's test runner, then the real-VS-Code suites (extension host + UI).
// Usage: node test/run-all.mjs [suite ...]   suites: unit lsp native fixtures runner e2e (default: all);
// a suite may name a sub-folder (`unit/recipe`) to run only that part.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeSuites = ['unit', 'lsp', 'native', 'fixtures', 'runner'];
const asked = process.argv.slice(2);
const suites = asked.length ? asked : [...nodeSuites, 'e2e'];

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' && dir.endsWith('test') ? [] : findTests(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

let failed = 0;
let passed = 0;
for (const suite of suites.filter((s) => nodeSuites.includes(s.split('/')[0]))) {
  const files = findTests(path.join(root, 'test', suite));
  if (!files.length) continue;
  const outdir = path.join(root, 'out', 'test', suite);
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: files, outdir, outbase: path.join(root, 'test', suite), bundle: true, platform: 'node',
    format: 'cjs', target: 'es2022', sourcemap: 'inline', packages: 'external', external: ['*.node'],
    logLevel: 'warning',
  });
  const outs = files.map((f) => path.join(outdir, path.relative(path.join(root, 'test', suite), f)).replace(/\.ts$/, '.js'));
  console.log(`\n=== ${suite}: ${outs.length} files`);
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...outs], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28,
  });
  process.stdout.write(r.stdout);
  const p = /^ℹ pass (\d+)/m.exec(r.stdout); const f = /^ℹ fail (\d+)/m.exec(r.stdout);
  passed += p ? +p[1] : 0; failed += f ? +f[1] : 0;
  if (r.status !== 0 && !(f && +f[1] > 0)) failed += 1; // runner died without counting
}
if (suites.includes('e2e')) {
  const r = spawnSync(process.execPath, [path.join(root, 'test', 'e2e.mjs')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(r.stdout);
  const m = /^e2e: (\d+) passed, (\d+) failed/m.exec(r.stdout);
  if (m) { passed += +m[1]; failed += +m[2]; } else failed += 1;
  if (r.status !== 0 && !(m && +m[2] > 0)) failed += 1;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
