// `npm run bench:lsp`: builds dist/server.js and the benchmark, then runs test/bench/lsp.bench.ts.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'es2022', external: ['vscode', 'onnxruntime-node', '*.node'], logLevel: 'warning', absWorkingDir: root };
await esbuild.build({ ...common, entryPoints: ['language-server/server/main.ts'], outfile: path.join(root, 'dist', 'server.js'), sourcemap: 'linked' });
const out = path.join(root, 'out', 'bench', 'lsp-bench.js');
await esbuild.build({ ...common, entryPoints: ['test/bench/lsp.bench.ts'], outfile: out });
const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
