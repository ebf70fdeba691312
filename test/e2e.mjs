// The real-VS-Code suites: installs the tools (cached), packages the .vsix if it is missing or older
// than the bundles, then (1) runs the mocha extension-host tests inside code-server through the
// `?payload=` route that @vscode/test-electron's entry would use, and (2) runs the Playwright UI
// tests (test/ui/*.test.ts, node:test) that drive code-server in headless Chromium.
// Screenshots and logs go to test-results/ (kept by CI). Prints "e2e: N passed, M failed".
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, rmSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupTools, startCodeServer, launchBrowser, makeWorkspace } from './tools/code-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const results = path.join(root, 'test-results');
mkdirSync(path.join(results, 'screenshots'), { recursive: true });
let passed = 0;
let failed = 0;

function latestVsix() {
  const dir = path.join(root, 'dist');
  if (!existsSync(dir)) return undefined;
  const v = readdirSync(dir).filter((f) => f.endsWith('.vsix')).map((f) => path.join(dir, f));
  return v.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

function ensureVsix() {
  const v = latestVsix();
  const bundle = path.join(root, 'dist', 'extension.js');
  if (v && existsSync(bundle) && statSync(v).mtimeMs >= statSync(bundle).mtimeMs) return v;
  const r = spawnSync(process.execPath, [path.join(root, 'extension/scripts/package.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('packaging the .vsix failed');
  return latestVsix();
}

/** QRECIPE_E2E_ONLY=newcomer,sensitivity runs only those UI test files (and the extension-host suite only if named). */
const only = process.env.QRECIPE_E2E_ONLY?.split(',').map((x) => x.trim()).filter(Boolean);

function findTests(dir, suffix) {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(suffix)).map((f) => path.join(dir, f)) : [];
  return only ? files.filter((f) => only.includes(path.basename(f, suffix)) || (suffix === '.test.ts' && dir.endsWith('extension') && only.includes('extension'))) : files;
}

async function extensionHostSuite(tools, vsix) {
  const files = findTests(path.join(root, 'test', 'extension'), '.test.ts');
  if (!files.length) return;
  const outdir = path.join(root, 'out', 'test', 'extension');
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [...files, path.join(root, 'test', 'extension', 'index.ts')], outdir, bundle: true, platform: 'node',
    format: 'cjs', target: 'es2022', packages: 'external', external: ['vscode'], logLevel: 'warning',
  });
  const work = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-cs-'));
  const ws = makeWorkspace(root);
  const server = await startCodeServer({ tools, vsix, folder: ws, workDir: work });
  const browser = await launchBrowser(tools);
  try {
    const extDir = readdirSync(server.dirs.ext).find((d) => d.startsWith('qrecipe.qrecipe-'));
    const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(path.join(server.dirs.ext, extDir))],
      ['extensionTestsPath', remote(path.join(outdir, 'index'))],
      ['extensionEnvironment', JSON.stringify({ QRECIPE_TEST_WORKSPACE: ws })],
      ['skipWelcome', 'true'],
    ];
    const page = await browser.newPage();
    const exit = new Promise((resolve) => {
      page.exposeFunction('codeAutomationLog', (type, args) => console.log(`  [ext-host] ${args.map(String).join(' ')}`));
      page.exposeFunction('codeAutomationExit', (code) => resolve(code));
    });
    await page.goto(`${server.url}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const code = await Promise.race([exit, new Promise((r) => setTimeout(() => r('timeout'), 300_000))]);
    await page.screenshot({ path: path.join(results, 'screenshots', 'extension-host-tests.png') });
    const log = readFileSync(path.join(outdir, 'results.json'), 'utf8');
    const summary = JSON.parse(log);
    console.log(`extension-host tests: ${summary.passes} passed, ${summary.failures} failed (exit ${code})`);
    passed += summary.passes; failed += summary.failures;
    if (code !== 0 && !summary.failures) failed += 1;
  } catch (err) {
    console.log(`extension-host tests did not complete: ${err.message}`);
    failed += 1;
  } finally {
    await browser.close();
    await server.stop();
  }
}

function uiSuite(tools, vsix) {
  const files = findTests(path.join(root, 'test', 'ui'), '.test.ts');
  if (!files.length) return;
  const outdir = path.join(root, 'out', 'test', 'ui');
  rmSync(outdir, { recursive: true, force: true });
  esbuild.buildSync({ entryPoints: files, outdir, bundle: true, platform: 'node', format: 'cjs', target: 'es2022', packages: 'external', logLevel: 'warning' });
  const outs = readdirSync(outdir).filter((f) => f.endsWith('.js')).map((f) => path.join(outdir, f));
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...outs], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, QRECIPE_E2E_TOOLS: JSON.stringify(tools), QRECIPE_E2E_VSIX: vsix, QRECIPE_E2E_RESULTS: results },
  });
  process.stdout.write(r.stdout);
  const p = /^ℹ pass (\d+)/m.exec(r.stdout); const f = /^ℹ fail (\d+)/m.exec(r.stdout);
  passed += p ? +p[1] : 0; failed += f ? +f[1] : 0;
  if (r.status !== 0 && !(f && +f[1] > 0)) failed += 1;
}

try {
  const tools = setupTools(root);
  const vsix = ensureVsix();
  console.log(`e2e: using ${path.relative(root, vsix)}`);
  await extensionHostSuite(tools, vsix);
  uiSuite(tools, vsix);
} catch (err) {
  console.log(`e2e setup failed: ${err.stack ?? err}`);
  failed += 1;
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
