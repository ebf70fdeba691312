// The extension's manifest agrees with its code and its package: every contributed command is
// registered and every registered one contributed, every setting is read and every read one
// declared, restorable panels activate the extension, both views have welcome content, Cancel Run
// shows only while a run is active, the walkthrough links only what is shipped, and the package has
// a bin, a LICENSE, a repository, an engines.vscode the typings match, no unused dependency and no
// unknown npm config.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const read = (p: string): string => readFileSync(path.join(ROOT, p), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(path.join(ROOT, p)).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const hostCode = sources('extension/src').map(read).join('\n');

test('every contributed command is registered, and every registered command is contributed', () => {
  const contributed = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const registered = new Set([...hostCode.matchAll(/(?:registerCommand|add)\('(qrecipe\.[A-Za-z]+)'/g)].map((m) => m[1]!));
  assert.deepEqual([...contributed].filter((c) => !registered.has(c)), [], 'contributed but never registered');
  assert.deepEqual([...registered].filter((c) => !contributed.has(c)), [], 'registered but not contributed');
});

test('every setting is read by the code, and the code reads no undeclared setting', () => {
  const declared = Object.keys(pkg.contributes.configuration.properties).map((k) => k.replace(/^qrecipe\./, ''));
  const config = read('extension/src/config.ts');
  const readKeys = [...config.matchAll(/c\.get<[^>]+>\('([^']+)'/g)].map((m) => m[1]!);
  const byClient = ['trace.server']; // read by vscode-languageclient (its trace setting for client 'qrecipe')
  assert.deepEqual(declared.filter((k) => !readKeys.includes(k) && !byClient.includes(k)), [], 'declared but read nowhere');
  assert.deepEqual(readKeys.filter((k) => !declared.includes(k)), [], 'read but not declared');
  assert.ok(/new LanguageClient\('qrecipe'/.test(read('extension/src/client.ts')), 'the client id matches qrecipe.trace.server');
});

test('the restorable panels activate the extension, and both views have welcome content', () => {
  const viewTypes = [...hostCode.matchAll(/viewType: '(qrecipe\.[a-z]+)'/g)].map((m) => m[1]!);
  assert.deepEqual(viewTypes.sort(), ['qrecipe.compare', 'qrecipe.sensitivity']);
  for (const v of viewTypes) assert.ok(pkg.activationEvents.includes(`onWebviewPanel:${v}`), v);
  const welcomed = pkg.contributes.viewsWelcome.map((w: { view: string }) => w.view).sort();
  assert.deepEqual(welcomed, pkg.contributes.views.qrecipe.map((v: { id: string }) => v.id).sort());
  for (const w of pkg.contributes.viewsWelcome) assert.match(w.contents, /\(command:qrecipe\.tryQuickstart\)/);
});

test('Cancel Run shows in the palette only while a run is active (the context key the run manager sets)', () => {
  const entry = pkg.contributes.menus.commandPalette.find((m: { command: string }) => m.command === 'qrecipe.cancelRun');
  assert.equal(entry?.when, 'qrecipe.runActive');
  assert.match(read('extension/src/runs/run-manager.ts'), /RUN_ACTIVE_CONTEXT = 'qrecipe\.runActive'/);
  // and the command asks before it stops anything (the status-bar item runs it)
  assert.match(read('extension/src/runs/run-commands.ts'), /showWarningMessage\(`Stop the run of \$\{names\}\?`, \{ modal: true/);
});

test('the walkthrough links contributed commands and shipped files only, in lines that fit', () => {
  const commands = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const pack = read('extension/scripts/package.mjs');
  for (const step of pkg.contributes.walkthroughs[0].steps) {
    for (const m of step.description.matchAll(/\(command:([\w.]+)\)/g)) assert.ok(commands.has(m[1]), `${step.id}: ${m[1]}`);
    const media: string = step.media.markdown;
    assert.ok(existsSync(path.join(ROOT, media)), media);
    assert.ok(pack.includes(`'${path.dirname(media)}'`), `${media} is in what the .vsix ships (SHIP of package.mjs)`);
    const text = read(media);
    assert.doesNotMatch(text, /docs\/|test\/fixtures|\.\.\//, `${media} names files the installed extension does not have`);
    for (const line of text.split('\n')) assert.ok(line.length <= 72, `${media}: a line of ${line.length} characters is cut off in the walkthrough: ${line}`);
  }
  assert.ok(pack.includes("'dist/quickstart'"), 'the quickstart the walkthrough opens is packaged');
});

test('package: a qrecipe bin that is a node script, a LICENSE, a repository, no uplot', () => {
  assert.deepEqual(pkg.bin, { qrecipe: 'dist/cli.js' });
  assert.match(read('extension/scripts/esbuild.mjs'), /banner: \{ js: '#!\/usr\/bin\/env node' \}/);
  assert.ok(existsSync(path.join(ROOT, 'LICENSE')) && /MIT License/.test(read('LICENSE')));
  assert.equal(pkg.license, 'MIT');
  assert.ok(pkg.repository?.url, 'repository');
  assert.ok(!pkg.dependencies.uplot && !pkg.devDependencies.uplot);
  for (const f of sources('webviews')) assert.doesNotMatch(read(f), /uplot/i, f);
  assert.doesNotMatch(read('extension/scripts/package.mjs'), /--skip-license|--allow-missing-repository/);
});

test('engines.vscode is the lowest the code needs: the typings are that version, and the language client needs no newer', () => {
  const engine = /^\^(\d+)\.(\d+)\.\d+$/.exec(pkg.engines.vscode);
  assert.ok(engine, pkg.engines.vscode);
  const types = /^[~^]?(\d+)\.(\d+)\.\d+$/.exec(pkg.devDependencies['@types/vscode']);
  assert.deepEqual(types?.slice(1), engine.slice(1), 'the code is typechecked against the API of the oldest VS Code it claims');
  const lock = JSON.parse(read('package-lock.json'));
  assert.match(lock.packages['node_modules/@types/vscode'].version, new RegExp(`^${engine[1]}\\.${engine[2]}\\.`));
  const client = JSON.parse(read('node_modules/vscode-languageclient/package.json'));
  const needs = /(\d+)\.(\d+)/.exec(client.engines.vscode)!;
  assert.ok(+needs[1]! < +engine[1]! || (+needs[1]! === +engine[1]! && +needs[2]! <= +engine[2]!), `vscode-languageclient needs ${client.engines.vscode}`);
});

test('npm commands run without an unknown-config warning, and onnxruntime-node\'s download is skipped where it is installed', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown (project|user|env) config/);
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  assert.match(read('.ci/run'), /export ONNXRUNTIME_NODE_INSTALL=skip\nnpm ci/);
  assert.match(read('node_modules/onnxruntime-node/script/install-utils.js'), /process\.env\.ONNXRUNTIME_NODE_INSTALL\b/, 'the variable the install script reads');
});

test('the README tells where runs land and how to run the CLI', () => {
  const readme = read('README.md');
  assert.doesNotMatch(readme, /examples\/\.qrecipe\/runs/);
  assert.match(readme, /npx qrecipe/);
  assert.match(readme, /qrecipe init/);
});
