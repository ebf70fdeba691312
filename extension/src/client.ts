// Starts the QRecipe language server (dist/server.js) in its own Node process over IPC.
// A crash of the server is reported in the output channel and restarted by the client library a
// bounded number of times; the extension host itself never runs analysis code.
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import type { Ctx } from './ctx';
import { config } from './config';

export async function startLanguageClient(ctx: Ctx): Promise<LanguageClient> {
  const module = ctx.asset('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const clientOptions: LanguageClientOptions = {
    // files on disk (and unsaved new ones): the read-only `qrecipe:` copies of recipes are not analysed
    documentSelector: [{ language: 'qrecipe', scheme: 'file' }, { language: 'qrecipe', scheme: 'untitled' }],
    // the run store the server keeps export paths out of (QR131)
    initializationOptions: { runsFolder: config().runsFolder },
    outputChannel: ctx.output,
    synchronize: {
      // Model files feed the model-aware checks: the server re-reads an inventory when one changes.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{onnx,onnx.data,qrecipe}'),
    },
    initializationFailedHandler: (error) => {
      ctx.output.error(`language server failed to initialise: ${String(error)}`);
      ctx.output.show(true);
      return false;
    },
  };
  const client = new LanguageClient('qrecipe', 'QRecipe Language Server', serverOptions, clientOptions);
  await client.start();
  return client;
}
