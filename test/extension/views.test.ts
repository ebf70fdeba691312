// Inside the extension host: Inspect Model opens a read-only `qrecipe:` document made by the
// language server (never "unsaved"), and the server answers the typed custom requests the
// extension declares (Check Recipe's qrecipe/resolvedRecipe) for an open recipe.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activeExtension, workspacePath } from './helpers';

async function until<T>(get: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('QRecipe read-only documents and custom requests', () => {
  it('Inspect Model shows the model\'s layers in a read-only document', async () => {
    await activeExtension();
    await vscode.commands.executeCommand('qrecipe.inspectModel', vscode.Uri.file(workspacePath('test', 'fixtures', 'tiny-lm', 'model.onnx')));
    const doc = await until(() => { const d = vscode.window.activeTextEditor?.document; return d?.uri.scheme === 'qrecipe' ? d : undefined; });
    assert.match(doc.getText(), /Compressible layers \(30\)/);
    assert.equal(doc.isDirty, false);
    assert.equal(doc.isUntitled, false);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('the language server answers qrecipe/resolvedRecipe for an open recipe', async () => {
    const ext = await activeExtension();
    const api = ext.exports as { ctx: { clientReady: Promise<{ sendRequest(method: string, params: unknown): Promise<unknown> } | undefined> } };
    const client = await api.ctx.clientReady;
    assert.ok(client, 'the language server started');
    const doc = await vscode.workspace.openTextDocument(workspacePath('examples', 'quickstart.qrecipe'));
    const r = await client.sendRequest('qrecipe/resolvedRecipe', { uri: doc.uri.toString() }) as { errors: number; warnings: number; recipe: { stages: { kind: string }[] } };
    assert.equal(r.errors, 0);
    assert.deepEqual(r.recipe.stages.map((s) => s.kind), ['quantize', 'evaluate', 'export']);
  });
});
