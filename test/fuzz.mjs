// `npm run test:fuzz`: bundles test/fuzz/run.ts and runs the fuzz families for a bounded time.
// Arguments are passed on: --seconds N, --seed S, --family NAME.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'out', 'fuzz', 'run.js');
await esbuild.build({
  entryPoints: [path.join(root, 'test', 'fuzz', 'run.ts')], outfile: out, bundle: true, platform: 'node', format: 'cjs',
  target: 'es2022', packages: 'external', external: ['*.node'], logLevel: 'warning', absWorkingDir: root,
});
const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
