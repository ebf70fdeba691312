// Packages a per-platform .vsix with @vscode/vsce: the bundles, the native addon, the quickstart that
// `qrecipe init` copies (dist/quickstart: a 7 MB model, its text and recipe), the walkthrough, and
// only this platform's onnxruntime binary (the npm package carries all platforms, 288 MB). Nothing
// that points outside the installed folder (the repository's examples/ refer to test/fixtures/).
// Usage: node extension/scripts/package.mjs [--target linux-x64]   (default: this machine's platform)
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, statSync, rmSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argTarget = process.argv.indexOf('--target');
const target = argTarget > 0 ? process.argv[argTarget + 1] : `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`;
const [os, arch] = target.split('-');
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const limitMiB = 40;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

run(process.execPath, ['extension/scripts/esbuild.mjs', '--production']);
if (!existsSync(path.join(root, 'native/build/Release/qrecipe.node'))) run(process.execPath, ['native/build.mjs']);

// An allow-list: everything is excluded, then what the installed extension needs is let back in
// (vsce lets any matching negation win over every exclusion, so the negations are exact).
const ignore = [
  '**',
  '!package.json', '!README.md', '!LICENSE', '!CHANGELOG.md',
  '!dist/*.js', '!dist/webviews/*.js', '!dist/webviews/*.css', '!dist/quickstart/**',
  '!extension/media/**', '!extension/syntaxes/**', '!extension/language-configuration.json', '!extension/walkthrough/**',
  '!native/build/Release/qrecipe.node', '!native/build/Release/*.so*',
  '!node_modules/onnxruntime-common/package.json', '!node_modules/onnxruntime-common/dist/cjs/**/*.js', '!node_modules/onnxruntime-common/dist/cjs/package.json',
  '!node_modules/onnxruntime-node/package.json', '!node_modules/onnxruntime-node/dist/*.js',
  `!node_modules/onnxruntime-node/bin/napi-v6/${os}/${arch}/**`,
];
const ignoreFile = path.join(root, 'dist', `.vscodeignore-${target}`);
writeFileSync(ignoreFile, ignore.join('\n') + '\n');
const out = path.join(root, 'dist', `qrecipe-${target}-${version}.vsix`);
rmSync(out, { force: true });
run(process.execPath, [path.join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--target', target, 
  '--ignoreFile', ignoreFile, '-o', out]);
const mib = statSync(out).size / 2 ** 20;
console.log(`package: ${path.relative(root, out)} ${mib.toFixed(1)} MiB (limit ${limitMiB} MiB)`);
if (mib > limitMiB) {
  console.error(`package: the .vsix is larger than ${limitMiB} MiB`);
  process.exit(1);
}
