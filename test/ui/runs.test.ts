// The user journey of issue 9 in a real VS Code (code-server + headless Chromium), screenshots kept:
// diagnostics come and go → Run via the CodeLens → progress → the run in the sidebar with metrics →
// a second recipe → Compare shows both → Export from the command palette writes a file that loads;
// a killed runner shows as failed and the tree stays usable; an untrusted workspace refuses to run.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { openSession, type Session } from './session';

async function breakAndFix(s: Session): Promise<void> {
  await s.page.locator('.monaco-editor .view-lines').first().click();
  await s.page.keyboard.press('Control+End');
  await s.page.keyboard.insertText('\nquantize rtn { bits 99 }'); // no auto-closing brackets
  await s.page.locator('.monaco-editor .squiggly-error').first().waitFor({ timeout: 20_000 });
  await s.shot('journey-1-diagnostic');
  // Fix it: delete the inserted line again, then save.
  await s.page.keyboard.press('Control+End');
  await s.page.keyboard.press('Home');
  await s.page.keyboard.press('Shift+End');
  await s.page.keyboard.press('Delete');
  await s.page.keyboard.press('Backspace');
  await s.page.keyboard.press('Control+S');
  await s.page.waitForFunction(() => !document.querySelector('.monaco-editor .squiggly-error'), undefined, { timeout: 20_000 });
}

test('journey: diagnostics, run via CodeLens, second run, compare, export', { timeout: 900_000 }, async () => {
  const s = await openSession();
  try {
    await s.open('examples/quickstart.qrecipe');
    await breakAndFix(s);

    await s.page.locator('.contentWidgets .codelens-decoration a', { hasText: 'Run' }).first().click({ timeout: 30_000 });
    await s.notification(/QRecipe: quickstart/);
    await s.shot('journey-2-progress');
    const rows = await s.waitForRunRows((r) => r.some((x) => /ppl \d/.test(x)), 300_000);
    assert.ok(rows.some((r) => /quickstart/.test(r)));
    await s.shot('journey-3-run-in-sidebar');

    await s.open('examples/sparsegpt-2of4.qrecipe');
    await s.command('QRecipe: Run Recipe');
    await s.waitForRunRows((r) => r.filter((x) => /ppl \d/.test(x)).length >= 2, 300_000);

    // Compare: select both runs in the tree, then the view's Compare action.
    const view = await s.compareFirstTwo(/ppl \d/);
    assert.ok(await view.locator('svg.scatter circle').count() >= 2, 'scatter shows the runs');
    await s.shot('journey-4-compare');

    // Export from the command palette: run (first), format (MatMulNBits), destination typed in the dialog.
    await s.command('QRecipe: Export Compressed Model');
    await s.page.locator('.quick-input-list .monaco-list-row', { hasText: 'quickstart' }).first().click();
    await s.page.locator('.quick-input-list .monaco-list-row', { hasText: 'onnx-matmulnbits' }).first().click();
    const dest = path.join(s.workspace, 'exported-w4.onnx');
    // The save dialog proposes <workspace>/<model>-<run>.onnx with the base name selected: type the
    // new name over it as a user would, then make sure the whole path is the one we mean.
    const input = s.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await s.page.waitForFunction(() => (document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value.endsWith('.onnx'));
    await s.page.keyboard.type('exported-w4'); // the selection leaves the extension in place
    for (let i = 0; i < 8 && (await input.inputValue()) !== dest; i++) await s.page.waitForTimeout(250);
    if ((await input.inputValue()) !== dest) {
      await s.page.keyboard.press('Control+A');
      await s.page.keyboard.type(dest);
      for (let i = 0; i < 8 && (await input.inputValue()) !== dest; i++) await s.page.waitForTimeout(250);
    }
    assert.equal(await input.inputValue(), dest, 'the save dialog holds the destination');
    await s.page.keyboard.press('Enter');
    const done = await s.notification(/exported exported-w4\.onnx/, 180_000);
    assert.match(done, /bits per weight, loads in onnxruntime/, "the export notification says what the file is");
    await s.shot('journey-5-exported');
    assert.ok(existsSync(dest) && statSync(dest).size > 0);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(dest);
    assert.deepEqual(session.inputNames, ['input_ids']);
  } catch (err) {
    await s.shot('journey-failure');
    throw err;
  } finally {
    await s.close();
  }
});

test('a runner killed mid-run shows as failed and the Runs view stays usable', { timeout: 400_000 }, async () => {
  const s = await openSession();
  try {
    await s.open('examples/quickstart.qrecipe');
    // the editor in the recipe's language mode before the command, so that it runs this recipe
    await s.languageMode('QRecipe');
    await s.command('QRecipe: Run Recipe');
    await s.waitForRunRows((r) => r.some((x) => /\d+\/\d+/.test(x)), 180_000); // per-layer progress is showing
    // "[d]ist" keeps pkill from matching the shell that runs it.
    execSync(`pkill -KILL -f "[d]ist/cli.js run .*${s.workspace.replace(/[^A-Za-z0-9/_-]/g, '.')}"`);
    await s.notification(/failed/, 60_000);
    const rows = await s.waitForRunRows((r) => r.some((x) => /failed/.test(x)), 30_000);
    assert.ok(rows.some((r) => /failed/.test(r)));
    await s.shot('killed-runner');
    await s.command('QRecipe: Refresh Runs');
    assert.ok((await s.runRows()).length > 0, 'the tree still answers');
  } catch (err) {
    await s.shot('killed-runner-failure');
    throw err;
  } finally {
    await s.close();
  }
});

test('an untrusted workspace refuses to run a recipe with a clear message', { timeout: 180_000 }, async () => {
  const s = await openSession({ trust: false });
  try {
    const distrust = s.page.locator('.monaco-dialog-box .monaco-button', { hasText: /No, I don.t trust/ });
    if (await distrust.first().isVisible({ timeout: 10_000 }).catch(() => false)) await distrust.first().click();
    await s.open('examples/quickstart.qrecipe');
    const text = await s.commandNotifying('QRecipe: Run Recipe', /untrusted workspace/);
    assert.match(text, /Trust this workspace/);
    // the screenshot shows the refusal itself: the notification centre open, then closed again
    const bell = s.page.locator('[id="status.notifications"]').first();
    await bell.click();
    await s.page.locator('.notification-list-item').filter({ hasText: /untrusted workspace/ }).first().waitFor();
    await s.shot('untrusted-refuses');
    await bell.click();
    assert.ok(!existsSync(path.join(s.workspace, '.qrecipe')), 'nothing was run');
  } catch (err) {
    await s.shot('untrusted-failure');
    throw err;
  } finally {
    await s.close();
  }
});
