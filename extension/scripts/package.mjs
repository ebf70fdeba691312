// Packages a per-platform .vsix with @vscode/vsce from a staging folder that holds exactly what the
// installed extension needs: the bundles, the native addon, the quickstart that `qrecipe init`
// copies (dist/quickstart: a 7 MB model, its text and recipe), the walkthrough and media, and only
// this platform's onnxruntime binary (the npm package carries all platforms, 288 MB). Nothing that
// points outside the installed folder (the repository's examples/ refer to test/fixtures/).
// Staging makes the package independent of the development node_modules (vsce asks npm which
// packages to ship; here npm sees the two the extension loads at run time) and follows symlinks
// (a worktree's native/build may be one).
// Usage: node extension/scripts/package.mjs [--target linux-x64]   (default: this machine's platform)
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, statSync, rmSync, readFileSync, cpSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argTarget = process.argv.indexOf('--target');
const target = argTarget > 0 ? process.argv[argTarget + 1] : `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`;
const [os, arch] = target.split('-');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const limitMiB = 40;

function run(cmd, args, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

run(process.execPath, ['extension/scripts/esbuild.mjs', '--production']);
if (!existsSync(path.join(root, 'native/build/Release/qrecipe.node'))) run(process.execPath, ['native/build.mjs']);

/** What ships, relative to the repository (folders whole, symlinks followed). */
export const SHIP = [
  'README.md', 'LICENSE',
  'dist/extension.js', 'dist/server.js', 'dist/cli.js', 'dist/webviews', 'dist/quickstart',
  'extension/media', 'extension/syntaxes', 'extension/language-configuration.json', 'extension/walkthrough',
];
/** onnxruntime: its JavaScript and this platform's binaries only. */
const ORT = [
  'node_modules/onnxruntime-common/package.json', 'node_modules/onnxruntime-common/dist/cjs',
  'node_modules/onnxruntime-node/package.json', 'node_modules/onnxruntime-node/dist', `node_modules/onnxruntime-node/bin/napi-v6/${os}/${arch}`,
];

const stage = path.join(root, 'dist', `.stage-${target}`);
rmSync(stage, { recursive: true, force: true });
const copy = (rel, filter) => cpSync(path.join(root, rel), path.join(stage, rel), { recursive: true, dereference: true, filter });
for (const rel of [...SHIP, ...ORT]) copy(rel, (src) => !src.endsWith('.map') && !src.endsWith('.d.ts'));
// the native addon and the libraries beside it (libgomp), nothing of the build's objects
const release = path.join(root, 'native/build/Release');
mkdirSync(path.join(stage, 'native/build/Release'), { recursive: true });
for (const f of readdirSync(release).filter((f) => f === 'qrecipe.node' || /\.so(\.\d+)*$/.test(f))) cpSync(path.join(release, f), path.join(stage, 'native/build/Release', f), { dereference: true });
// npm, asked by vsce which packages ship, sees the two loaded at run time; onnxruntime-node's other
// dependencies serve only its install script (a download), which is not shipped
const ortVersion = (name) => JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
const ortPkg = path.join(stage, 'node_modules/onnxruntime-node/package.json');
writeFileSync(ortPkg, JSON.stringify({ ...JSON.parse(readFileSync(ortPkg, 'utf8')), dependencies: { 'onnxruntime-common': ortVersion('onnxruntime-common') }, scripts: {} }, null, 2));
const { devDependencies: _dev, scripts: _scripts, allowScripts: _allow, ...manifest } = pkg;
writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ ...manifest, dependencies: { 'onnxruntime-node': ortVersion('onnxruntime-node'), 'onnxruntime-common': ortVersion('onnxruntime-common') } }, null, 2));
writeFileSync(path.join(stage, '.vscodeignore'), '.vscodeignore\n');

const out = path.join(root, 'dist', `qrecipe-${target}-${pkg.version}.vsix`);
rmSync(out, { force: true });
run(process.execPath, [path.join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--target', target, '-o', out], stage);
rmSync(stage, { recursive: true, force: true });
const mib = statSync(out).size / 2 ** 20;
console.log(`package: ${path.relative(root, out)} ${mib.toFixed(1)} MiB (limit ${limitMiB} MiB)`);
if (mib > limitMiB) {
  console.error(`package: the .vsix is larger than ${limitMiB} MiB`);
  process.exit(1);
}
