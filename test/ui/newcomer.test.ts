// A newcomer's first hour (issue 21), in a real VS Code with nothing but the installed .vsix and an
// empty folder: the sidebar's welcome offers the quickstart, which copies a model with its data and
// opens a recipe that checks clean and runs; the finish notification names the metrics; the run is
// labelled by its settings and opens as a page; the Models view and Inspect Model understand the
// exported model and say where it came from, read-only; a second run with other settings is told
// apart and compared, with the recipe diff read-only too. Screenshots: test-results/screenshots/newcomer-*.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openSession, type Session } from './session';

/** Closes the active editor and checks that VS Code asks nothing (read-only documents are never "unsaved"). */
async function closeWithoutPrompt(s: Session): Promise<void> {
  await s.page.keyboard.press('Control+W');
  await s.page.waitForTimeout(800);
  assert.equal(await s.page.locator('.monaco-dialog-box').count(), 0, 'closing a read-only document asks nothing');
}

async function clickLens(s: Session, title: string): Promise<void> {
  await s.page.locator('.contentWidgets .codelens-decoration a', { hasText: title }).first().click({ timeout: 30_000 });
}

test('newcomer: quickstart from an empty folder, check, run, run page, models, inspect, second run, compare', { timeout: 1_200_000 }, async () => {
  const s = await openSession({ empty: true });
  try {
    const runs = await s.view('Runs');
    const welcome = runs.locator('.welcome-view-content');
    await welcome.waitFor({ timeout: 30_000 });
    assert.match((await welcome.textContent()) ?? '', /No runs yet/);
    const models = await s.view('Models');
    assert.match((await models.locator('.welcome-view-content').textContent()) ?? '', /No ONNX model/);
    await s.shot('newcomer-1-empty-welcome');

    await runs.locator('.welcome-view-content .monaco-button', { hasText: 'Try the Quickstart' }).first().click();
    await s.page.locator('.tab[data-resource-name="quickstart.qrecipe"]').first().waitFor({ timeout: 60_000 });
    for (const f of ['quickstart.qrecipe', 'model.onnx', 'data/calib.txt', 'data/heldout.txt']) assert.ok(existsSync(path.join(s.workspace, 'qrecipe-quickstart', f)), f);
    await s.languageMode('QRecipe');
    await clickLens(s, 'Check');
    const checked = await s.notification(/quickstart\.qrecipe has no problems/, 30_000);
    assert.match(checked, /ready to run/);
    assert.equal(await s.page.locator('.monaco-editor .squiggly-error').count(), 0);
    await s.shot('newcomer-2-quickstart-recipe');

    await clickLens(s, 'Run');
    await s.notification(/QRecipe: quickstart/);
    await s.shot('newcomer-3-running');
    const finished = await s.notification(/quickstart\.qrecipe finished in \d+ s/, 600_000);
    assert.match(finished, /perplexity \d\.\d+ \(\+[\d.]+ vs original\)/);
    assert.match(finished, /\d+ % of the original/);
    assert.match(finished, /exported tiny-lm-w4\.onnx \(loads in onnxruntime\)/);
    await s.shot('newcomer-4-finished');
    const rows = await s.waitForRunRows((r) => r.some((x) => /ppl \d/.test(x)), 30_000);
    const row = rows.find((x) => /ppl \d/.test(x))!;
    assert.match(row, /gptq 4b/, 'the run is named by its settings, not its start time');
    assert.match(row, /MiB/);

    // A click on the run opens its page (markdown preview), not the raw run.json.
    await (await s.view('Runs')).locator('.monaco-list-row', { hasText: 'gptq 4b' }).first().click();
    const page = s.webview();
    await page.locator('h2', { hasText: 'Results' }).waitFor({ timeout: 30_000 });
    const pageText = (await page.locator('body').textContent()) ?? '';
    assert.match(pageText, /perplexity/);
    assert.match(pageText, /bits per weight/);
    assert.doesNotMatch(pageText, /sizeBytes|bitsPerWeight/);
    await s.shot('newcomer-5-run-page');
    await closeWithoutPrompt(s);

    // Models: the export is understood (its quantised layers) and linked to its source.
    const mv = await s.view('Models');
    const exportRow = mv.locator('.monaco-list-row', { hasText: 'tiny-lm-w4.onnx' }).first();
    await exportRow.waitFor({ timeout: 30_000 });
    await s.page.waitForFunction(() => [...document.querySelectorAll('.monaco-list-row')].some((r) => /tiny-lm-w4\.onnx.*28 quantised layers/.test(r.textContent ?? '')), undefined, { timeout: 30_000 });
    await exportRow.click();
    await mv.locator('.monaco-list-row', { hasText: 'source model' }).first().waitFor({ timeout: 30_000 });
    await s.shot('newcomer-6-models');
    await s.command('QRecipe: Inspect Model');
    await s.page.locator('.quick-input-list .monaco-list-row', { hasText: 'tiny-lm-w4.onnx' }).first().click();
    const lines = s.page.locator('.monaco-editor .view-lines').first();
    await lines.filter({ hasText: 'Quantised layers (28)' }).waitFor({ timeout: 30_000 });
    await lines.filter({ hasText: 'source model' }).waitFor();
    await s.shot('newcomer-7-inspect');
    await closeWithoutPrompt(s);

    // A second run with other settings: the two are told apart, then compared.
    const recipe = path.join(s.workspace, 'qrecipe-quickstart', 'quickstart.qrecipe');
    writeFileSync(recipe, readFileSync(recipe, 'utf8').replace('bits 4  group 64', 'bits 3  group 64'));
    await s.open('qrecipe-quickstart/quickstart.qrecipe');
    await s.page.locator('.monaco-editor .view-lines').first().filter({ hasText: 'bits 3' }).waitFor({ timeout: 20_000 });
    await clickLens(s, 'Run');
    // the export path holds the first run's file: the run asks before replacing it (nothing runs until then)
    const replace = s.page.locator('.monaco-dialog-box', { hasText: 'exports to a file that exists. Replace it?' });
    await replace.waitFor({ timeout: 60_000 });
    await s.shot('newcomer-8a-replace-asks');
    await replace.locator('.monaco-button', { hasText: 'Replace' }).first().click();
    const two = await s.waitForRunRows((r) => r.some((x) => /gptq 3b.*ppl/.test(x)) && r.some((x) => /gptq 4b.*ppl/.test(x)), 600_000);
    assert.ok(two.length >= 3, JSON.stringify(two));
    await s.shot('newcomer-8-two-runs');
    const view = await s.compareFirstTwo(/gptq \db.*ppl/);
    const compareText = (await view.locator('body').textContent()) ?? '';
    assert.match(compareText, /gptq 3b/);
    assert.match(compareText, /gptq 4b/);
    assert.match(compareText, /bits per weight/);
    assert.doesNotMatch(compareText, /bitsPerWeight|sizeBytes/);
    const ticks = await view.locator('svg.scatter text').allTextContents();
    assert.ok(ticks.every((t) => !/\d\.\d{5,}/.test(t)), `rounded ticks: ${JSON.stringify(ticks)}`);
    await s.shot('newcomer-9-compare');
    await view.locator('vscode-button', { hasText: 'Open recipe diff' }).click();
    await s.page.locator('.tab', { hasText: '↔' }).first().waitFor({ timeout: 30_000 });
    await s.page.locator('.editor-container .monaco-diff-editor').first().waitFor();
    await s.shot('newcomer-10-recipe-diff');
    await closeWithoutPrompt(s);
  } catch (err) {
    await s.shot('newcomer-failure');
    throw err;
  } finally {
    await s.close();
  }
});

test('conventions: Cancel Run only while running, the status-bar item asks before it stops, the walkthrough opens the quickstart', { timeout: 600_000 }, async () => {
  const s = await openSession({ empty: true });
  try {
    // no run: the palette does not offer Cancel Run
    await s.page.keyboard.press('F1');
    const input = s.page.locator('.quick-input-widget input');
    await input.fill('>QRecipe: Cancel Run');
    await s.page.waitForTimeout(1000);
    assert.equal(await s.page.locator('.quick-input-list .monaco-list-row', { hasText: 'Cancel Run' }).count(), 0);
    await s.page.keyboard.press('Escape');

    await s.commandOpening('Welcome: Open Walkthrough', '.quick-input-list .monaco-list-row', 15_000);
    await s.page.locator('.quick-input-list .monaco-list-row', { hasText: 'QRecipe' }).first().click();
    const step = s.page.locator('.getting-started-step', { hasText: 'Get a recipe and a model' }).first();
    await step.waitFor({ timeout: 30_000 });
    await s.shot('conventions-1-walkthrough');
    await step.click();
    await s.page.locator('.getting-started-step a, .getting-started-step .button-link', { hasText: 'Try the Quickstart' }).first().click();
    await s.page.locator('.tab[data-resource-name="quickstart.qrecipe"]').first().waitFor({ timeout: 60_000 });
    await s.languageMode('QRecipe');
    await s.command('QRecipe: Run Recipe');
    const status = s.page.locator('.statusbar-item', { hasText: 'QRecipe:' }).first();
    await status.waitFor({ timeout: 60_000 });
    await status.click();
    const dialog = s.page.locator('.monaco-dialog-box', { hasText: 'Stop the run of quickstart.qrecipe?' });
    await dialog.waitFor({ timeout: 15_000 });
    await s.shot('conventions-2-stop-asks');
    await dialog.locator('.monaco-button', { hasText: 'Stop Run' }).click();
    await s.notification(/quickstart\.qrecipe was cancelled/, 60_000);
    await s.shot('conventions-3-cancelled');
  } catch (err) {
    await s.shot('conventions-failure');
    throw err;
  } finally {
    await s.close();
  }
});
