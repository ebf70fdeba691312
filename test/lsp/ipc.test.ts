// The extension starts the server over IPC (vscode-languageclient, TransportKind.ipc passes
// --node-ipc): the same bundle must answer there too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter } from 'vscode-jsonrpc/node';
import { buildServer } from './build-server';

test('over IPC: initialize, open a document, receive diagnostics with a did-you-mean', async () => {
  const server = await buildServer();
  const child = fork(server, ['--node-ipc'], { silent: true });
  const conn = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  try {
    conn.listen();
    const got = new Promise<{ uri: string; diagnostics: { code: string; message: string }[] }>((resolve) => {
      conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: { code: string; message: string }[] }) => resolve(p));
    });
    const init = await conn.sendRequest<{ capabilities: { hoverProvider?: boolean } }>('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    assert.equal(init.capabilities.hoverProvider, true);
    await conn.sendNotification('initialized', {});
    const uri = `file://${path.join(process.cwd(), 'test', 'lsp', 'ipc.qrecipe')}`;
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'qrecipe', version: 1, text: 'modle "m.onnx"\n' } });
    const d = await got;
    assert.equal(d.uri, uri);
    assert.ok(d.diagnostics.some((x) => x.code === 'QR101' && /did you mean `model`/.test(x.message)), JSON.stringify(d.diagnostics));
    await conn.sendRequest('shutdown');
    await conn.sendNotification('exit');
  } finally {
    conn.dispose();
    if (child.exitCode === null) child.kill();
  }
});
