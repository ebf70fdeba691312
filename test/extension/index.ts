// Mocha entry for the extension-host tests: the module @vscode/test-electron (test/extension/launch-electron.mjs)
// and the code-server route (test/e2e.mjs) both load as `extensionTestsPath`. Writes a results.json
// summary next to itself because a web workbench gives the runner only an exit code.
import Mocha from 'mocha';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  for (const f of readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify({ passes: runner.stats?.passes ?? 0, failures }));
      if (failures) reject(new Error(`${failures} extension-host test(s) failed`));
      else resolve();
    });
  });
}
