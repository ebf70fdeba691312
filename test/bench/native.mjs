// `npm run bench:native`: builds the addons with the benchmark addon (node native/build.mjs --bench;
// incremental), bundles test/bench/native-bench.ts and runs it (arguments pass through; --no-build
// skips the build).
// Options: --full (4096×4096 and 11008×4096 with 128×2048 tokens; the default on a GPU),
// --tokens=N, --layers=RxC,RxC, --device=cpu|cuda|auto.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
if (!args.includes('--no-build')) {
  const b = spawnSync(process.execPath, [path.join(root, 'native/build.mjs'), '--bench'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const out = path.join(root, 'out', 'bench', 'native-bench.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test/bench/native-bench.ts')], outfile: out, bundle: true, platform: 'node',
  format: 'cjs', target: 'es2022', external: ['*.node'], logLevel: 'warning',
});
const r = spawnSync(process.execPath, [out, ...args.filter((a) => a !== '--no-build')], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
