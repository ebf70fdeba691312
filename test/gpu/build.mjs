// Bundles the GPU tests (test/gpu/*.test.ts) and the native benchmark into self-contained files
// (every dependency inlined, only the .node addon left outside) so the GPU machine, which has Node
// but no node_modules, can run them. Output: out/gpu/*.test.js and out/bench/native-bench.js.
// On the GPU machine (from the repository root, with native/build/Release carried, holding both
// addons: build them first with `node native/build.mjs --bench`):
//   node --test --test-reporter=spec out/gpu/   and   node out/bench/native-bench.js   and   node out/gpu/graph-bench.js
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outdir = path.join(root, 'out', 'gpu');
rmSync(outdir, { recursive: true, force: true });
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'es2022', external: ['*.node'], logLevel: 'warning' };
const tests = readdirSync(path.join(root, 'test/gpu')).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(root, 'test/gpu', f));
await esbuild.build({ ...common, entryPoints: tests, outdir });
await esbuild.build({ ...common, entryPoints: [path.join(root, 'test/bench/native-bench.ts')], outfile: path.join(root, 'out/bench/native-bench.js') });
await esbuild.build({ ...common, entryPoints: [path.join(root, 'test/gpu/graph-bench.ts')], outfile: path.join(outdir, 'graph-bench.js') });
console.log(`gpu: ${tests.length} test files -> out/gpu/, benchmarks -> out/bench/native-bench.js, out/gpu/graph-bench.js`);
