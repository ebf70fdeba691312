// Bundles every TypeScript program of the product with esbuild: the extension host code, the
// language server, the qrecipe CLI/runner (Node, CommonJS) and each webview (browser, IIFE).
// `--watch` keeps rebuilding; `--production` minifies.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Modules that must stay outside the bundles: the VS Code API (given by the host), onnxruntime's
// native binding (shipped in node_modules inside the .vsix) and our own addon (loaded by path).
const nodeExternal = ['vscode', 'onnxruntime-node', '*.node'];

/** @type {esbuild.BuildOptions[]} */
const targets = [
  { entryPoints: { extension: 'extension/src/extension.ts' }, platform: 'node', format: 'cjs', external: nodeExternal },
  { entryPoints: { server: 'language-server/server/main.ts' }, platform: 'node', format: 'cjs', external: nodeExternal },
  { entryPoints: { cli: 'extension/runner/cli.ts' }, platform: 'node', format: 'cjs', external: nodeExternal },
  { entryPoints: { 'webviews/sensitivity': 'webviews/sensitivity/main.ts' }, platform: 'browser', format: 'iife' },
  { entryPoints: { 'webviews/compare': 'webviews/compare/main.ts' }, platform: 'browser', format: 'iife' },
];

const common = {
  absWorkingDir: root,
  bundle: true,
  outdir: path.join(root, 'dist'),
  sourcemap: production ? false : 'linked',
  minify: production,
  target: 'es2022',
  logLevel: 'warning',
  loader: { '.css': 'text' },
};

const active = targets.filter((t) => Object.values(t.entryPoints).every((p) => existsSync(path.join(root, p))));
if (watch) {
  for (const t of active) await (await esbuild.context({ ...common, ...t })).watch();
  console.log(`esbuild: watching ${active.length} bundles`);
} else {
  const t0 = Date.now();
  await Promise.all(active.map((t) => esbuild.build({ ...common, ...t })));
  console.log(`esbuild: ${active.length} bundles in ${Date.now() - t0} ms -> dist/`);
}
