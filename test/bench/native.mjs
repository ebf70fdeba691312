// `npm run bench:native`: bundles test/bench/native-bench.ts and runs it (arguments pass through).
// Options: --full (4096×4096 and 11008×4096 with 128×2048 tokens; the default on a GPU),
// --tokens=N, --layers=RxC,RxC, --device=cpu|cuda|auto.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'out', 'bench', 'native-bench.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test/bench/native-bench.ts')], outfile: out, bundle: true, platform: 'node',
  format: 'cjs', target: 'es2022', external: ['*.node'], logLevel: 'warning',
});
const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
