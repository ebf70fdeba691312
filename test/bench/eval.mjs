// `npm run bench:eval`: bundles test/bench/eval.bench.ts and runs it (arguments pass through:
// --quick, --skip-llama, --blocks=N, --generate to only (re)generate the Llama-shaped model).
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'out', 'bench', 'eval-bench.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test/bench/eval.bench.ts')], outfile: out, bundle: true, platform: 'node',
  format: 'cjs', target: 'es2022', packages: 'external', external: ['*.node'], logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--max-old-space-size=8192', out, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
