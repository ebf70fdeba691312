// The language as a user meets it: a .qrecipe file gets the QRecipe mode, the server publishes a
// diagnostic for a broken line and takes it back when the line is fixed.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activeExtension, waitForDiagnostics, workspacePath } from './helpers';

describe('QRecipe language', () => {
  it('opens a .qrecipe file in the qrecipe language mode and activates', async () => {
    const doc = await vscode.workspace.openTextDocument(workspacePath('examples', 'quickstart.qrecipe'));
    await vscode.window.showTextDocument(doc);
    assert.equal(doc.languageId, 'qrecipe');
    const ext = await activeExtension();
    assert.ok(ext.isActive);
  });

  it('reports a broken line and clears the report once it is fixed', async () => {
    const doc = await vscode.workspace.openTextDocument(workspacePath('examples', 'quickstart.qrecipe'));
    const editor = await vscode.window.showTextDocument(doc);
    const clean = await waitForDiagnostics(doc.uri, () => true, 20_000);
    const errorsBefore = clean.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
    const line = doc.lineCount;
    await editor.edit((e) => e.insert(new vscode.Position(line, 0), '\nquantize gptq { bitz 4 }\n'));
    const isReport = (x: vscode.Diagnostic) => x.range.start.line >= line && x.severity === vscode.DiagnosticSeverity.Error && /bitz/.test(x.message);
    const broken = await waitForDiagnostics(doc.uri, (d) => d.some(isReport));
    const report = broken.find(isReport)!;
    assert.match(report.message, /bits/, 'the message suggests the key meant');
    assert.equal(doc.getText(report.range), 'bitz', 'the range covers exactly the bad key');
    assert.ok(report.code, 'diagnostics carry a stable code');
    await vscode.commands.executeCommand('undo');
    await waitForDiagnostics(doc.uri, (d) => d.filter((x) => x.severity === vscode.DiagnosticSeverity.Error).length === errorsBefore);
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  it('registers its commands', async () => {
    await activeExtension();
    const all = await vscode.commands.getCommands(true);
    for (const id of ['qrecipe.showOutput', 'qrecipe.restartServer', 'qrecipe.tryQuickstart']) assert.ok(all.includes(id), id);
  });
});
