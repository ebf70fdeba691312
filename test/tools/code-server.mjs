// Starts and stops a real VS Code (code-server on Node 24) for the extension-host and UI suites,
// isolated from the user's own settings: its own user-data, extensions, XDG and TMPDIR folders and a
// free loopback port. The tools come from test/tools/setup-vscode.sh.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync, openSync, cpSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Runs the setup script (cached) and returns the tool paths it printed. */
export function setupTools(root) {
  const out = execFileSync('bash', [path.join(root, 'test/tools/setup-vscode.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const get = (k) => new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1];
  return { node24: get('node24'), codeServer: get('code-server'), chromium: get('chromium') };
}

async function freePort() {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
    });
    // Double-check nothing answers there (a leftover server once answered while ours died).
    const busy = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (!busy) return port;
  }
  throw new Error('no free port found');
}

/**
 * Starts code-server on `folder` with the .vsix installed. `trust: false` leaves Workspace Trust on,
 * so the folder opens untrusted (restricted mode).
 */
export async function startCodeServer({ tools, vsix, folder, workDir, trust = true, settings = {} }) {
  const port = await freePort();
  const dirs = Object.fromEntries(['user', 'ext', 'xdg-config', 'xdg-data', 'xdg-cache', 'tmp'].map((d) => [d, path.join(workDir, d)]));
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const env = {
    ...process.env,
    PATH: `${path.dirname(tools.node24)}:${process.env.PATH}`,
    XDG_CONFIG_HOME: dirs['xdg-config'], XDG_DATA_HOME: dirs['xdg-data'], XDG_CACHE_HOME: dirs['xdg-cache'], TMPDIR: dirs.tmp,
  };
  const cfg = path.join(workDir, 'config.yaml');
  writeFileSync(cfg, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  mkdirSync(path.join(dirs.user, 'User'), { recursive: true });
  writeFileSync(path.join(dirs.user, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': !trust,
    'extensions.autoCheckUpdates': false, 'extensions.autoUpdate': false, 'telemetry.telemetryLevel': 'off',
    'workbench.tips.enabled': false, 'update.mode': 'none', 'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden', 'window.commandCenter': false, ...settings,
  }, null, 2));
  if (vsix) {
    const r = spawnSync(tools.codeServer, ['--extensions-dir', dirs.ext, '--user-data-dir', dirs.user, '--install-extension', vsix, '--force'], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`installing ${vsix} into code-server failed:\n${r.stdout}\n${r.stderr}`);
  }
  const args = ['--config', cfg, '--user-data-dir', dirs.user, '--extensions-dir', dirs.ext, '--disable-telemetry',
    '--disable-update-check', '--disable-getting-started-override', '--vscode-option', 'enable-smoke-test-driver'];
  if (trust) args.push('--disable-workspace-trust');
  args.push(folder);
  const log = openSync(path.join(workDir, 'code-server.log'), 'a');
  const child = spawn(tools.codeServer, args, { env, stdio: ['ignore', log, log], detached: false });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${workDir}/code-server.log`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { child.kill(); throw new Error('code-server did not answer /healthz within 60 s'); }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url, port, dirs, child, env,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Launches Debian's chromium through playwright-core with a fresh profile. */
export async function launchBrowser(tools) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-chromium-'));
  return chromium.launchPersistentContext(profile, { executablePath: tools.chromium, headless: true, args: chromiumArgs, viewport: { width: 1400, height: 900 } });
}

/** A throw-away workspace holding what the tests open: the examples and the fixtures they use. */
export function makeWorkspace(root) {
  const ws = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-ws-'));
  cpSync(path.join(root, 'examples'), path.join(ws, 'examples'), { recursive: true, filter: (s) => !/[\\/](out|\.qrecipe)$/.test(s) });
  cpSync(path.join(root, 'test', 'fixtures'), path.join(ws, 'test', 'fixtures'), {
    recursive: true, filter: (s) => !s.endsWith('.py') && !/__pycache__|[\\/]\.cache$|[\\/]\.qrecipe$/.test(s) && !s.endsWith('.test.ts'),
  });
  // The PP-OCR recipe points at the recognizer inside node_modules (npm ships it; we do not copy it
  // into the repository): give the workspace the two files it reads.
  const ocr = path.join(root, 'node_modules', '@gutenye', 'ocr-models', 'assets');
  for (const f of ['ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt']) {
    cpSync(path.join(ocr, f), path.join(ws, 'node_modules', '@gutenye', 'ocr-models', 'assets', f));
  }
  return ws;
}
