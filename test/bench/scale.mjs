// `npm run bench:scale`: builds the CLI, bundles test/bench/scale.bench.ts and runs it (arguments
// pass through: --blocks=4,8, --gpu, --provider=..., --json=FILE; see the bench's header).
// --bundle-only: only build (test/bench/stage-gpu.sh uses it).
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const build = spawnSync(process.execPath, [path.join(root, 'extension/scripts/esbuild.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const out = path.join(root, 'out', 'bench', 'scale.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test/bench/scale.bench.ts')], outfile: out, bundle: true, platform: 'node',
  // self-contained but for onnxruntime and the addon (it also runs on the GPU machine, which has no node_modules)
  format: 'cjs', target: 'es2022', external: ['onnxruntime-node', '*.node'], logLevel: 'warning',
});
if (process.argv.includes('--bundle-only')) process.exit(0);
const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
