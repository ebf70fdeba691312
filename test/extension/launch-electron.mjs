// Runs the same extension-host tests in a downloaded desktop VS Code through @vscode/test-electron,
// for machines with network access (this project's CI has none; it uses code-server, test/e2e.mjs).
// Usage: npm run build && npm run package && node test/e2e.mjs (once, to bundle out/test/extension)
//        then node test/extension/launch-electron.mjs
import { runTests } from '@vscode/test-electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWorkspace } from '../tools/code-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const workspace = makeWorkspace(root);
try {
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'out/test/extension/index'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: { QRECIPE_TEST_WORKSPACE: workspace },
  });
} catch (err) {
  console.error(`extension-host tests failed: ${err}`);
  process.exit(1);
}
