// Bundles every TypeScript program of the product with esbuild: the extension host code, the
// language server, the qrecipe CLI/runner (Node, CommonJS) and each webview (browser, IIFE); and
// puts the quickstart `qrecipe init` copies into dist/quickstart/ (the tiny LM fixture, its data,
// and examples/quickstart.qrecipe with its paths made local). `--watch` keeps rebuilding;
// `--production` minifies.
import * as esbuild from 'esbuild';
import { existsSync, readFileSync, writeFileSync, mkdirSync, copyFileSync, statSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;

// Modules that must stay outside the bundles: the VS Code API (given by the host), onnxruntime's
// native binding (shipped in node_modules inside the .vsix) and our own addon (loaded by path).
const nodeExternal = ['vscode', 'onnxruntime-node', '*.node'];

/** @type {esbuild.BuildOptions[]} */
const targets = [
  { entryPoints: { extension: 'extension/src/extension.ts' }, platform: 'node', format: 'cjs', external: nodeExternal },
  { entryPoints: { server: 'language-server/server/main.ts' }, platform: 'node', format: 'cjs', external: nodeExternal },
  // the `qrecipe` bin of package.json (npx qrecipe): a node script
  { entryPoints: { cli: 'extension/runner/cli.ts' }, platform: 'node', format: 'cjs', external: nodeExternal, banner: { js: '#!/usr/bin/env node' } },
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
  // core/util/version.ts: one version, package.json's
  define: { QRECIPE_VERSION: JSON.stringify(version) },
};

/** dist/quickstart: the files `qrecipe init` copies (one recipe text: examples/quickstart.qrecipe). */
function quickstart() {
  const src = path.join(root, 'test/fixtures/tiny-lm');
  const out = path.join(root, 'dist/quickstart');
  mkdirSync(path.join(out, 'data'), { recursive: true });
  for (const f of ['model.onnx', 'data/calib.txt', 'data/heldout.txt']) {
    const to = path.join(out, f);
    if (!existsSync(to) || statSync(to).mtimeMs < statSync(path.join(src, f)).mtimeMs) copyFileSync(path.join(src, f), to);
  }
  const recipe = readFileSync(path.join(root, 'examples/quickstart.qrecipe'), 'utf8').replaceAll('../test/fixtures/tiny-lm/', '');
  if (recipe.includes('../')) throw new Error('examples/quickstart.qrecipe refers to files outside the tiny LM fixture; the bundled quickstart could not find them');
  writeFileSync(path.join(out, 'quickstart.qrecipe'), recipe);
}
quickstart();

const active = targets.filter((t) => Object.values(t.entryPoints).every((p) => existsSync(path.join(root, p))));
if (watch) {
  for (const t of active) await (await esbuild.context({ ...common, ...t })).watch();
  console.log(`esbuild: watching ${active.length} bundles`);
} else {
  const t0 = Date.now();
  await Promise.all(active.map((t) => esbuild.build({ ...common, ...t })));
  // the bin of package.json runs as a program (npx qrecipe): executable, whatever the rebuild left
  if (existsSync(path.join(root, 'dist/cli.js'))) chmodSync(path.join(root, 'dist/cli.js'), 0o755);
  console.log(`esbuild: ${active.length} bundles in ${Date.now() - t0} ms -> dist/`);
}
