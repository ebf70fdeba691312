// Builds dist/server.js from language-server/server/main.ts with the same options as
// extension/scripts/esbuild.mjs (only this bundle, so the LSP tests do not depend on the others).
import * as esbuild from 'esbuild';
import path from 'node:path';

export async function buildServer(): Promise<string> {
  const root = process.cwd();
  const outfile = path.join(root, 'dist', 'server.js');
  await esbuild.build({
    absWorkingDir: root, entryPoints: ['language-server/server/main.ts'], outfile, bundle: true, platform: 'node', format: 'cjs',
    target: 'es2022', sourcemap: 'linked', external: ['vscode', 'onnxruntime-node', '*.node'], logLevel: 'warning',
  });
  return outfile;
}
