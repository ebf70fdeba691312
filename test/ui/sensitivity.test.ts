// The sensitivity visualizer in a real VS Code (issues 8, 21): open it for the mixed-precision recipe;
// while the engine runs, the view shows the phase, a percentage, the time left and a Stop button;
// the plots explain themselves (heat-map legend, round ticks, a labelled log axis, Δloss in words);
// move the budget slider with the keyboard, see the allocation change, write it into the recipe and
// find it in the file on disk, where it checks clean (the budget follows the allocation).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { openSession } from './session';

/** LLM-MQ on the quickstart's model, as a newcomer would write it beside the quickstart recipe. */
const MIXED = `# LLM-MQ mixed precision: pick 2, 3 or 4 bits per layer for an average of 3 bits
model "model.onnx"
data calib { text "data/calib.txt"  samples 32  seqlen 256 }
allocate llm-mq on calib {
  targets "re:layers\\..*_proj"
  budget 3bits
  candidates 2 3 4
  metric hessian
  group 64
  override "layers.0.*" { bits 4 } # keep the first block at 4 bits
}
`;

test('sensitivity: progress with time left, readable plots, slider re-allocates, the written recipe checks clean', { timeout: 600_000 }, async () => {
  const s = await openSession({ empty: true });
  try {
    await s.view('Runs'); // the extension's contributions are loaded
    await s.command('QRecipe: Try the Quickstart');
    await s.page.locator('.tab[data-resource-name="quickstart.qrecipe"]').first().waitFor({ timeout: 60_000 });
    writeFileSync(path.join(s.workspace, 'qrecipe-quickstart', 'mixed.qrecipe'), MIXED);
    await s.open('qrecipe-quickstart/mixed.qrecipe');
    await s.languageMode('QRecipe');
    // the language server's CodeLens above the allocate stage opens the view
    await s.page.locator('.contentWidgets .codelens-decoration a', { hasText: 'Sensitivity' }).first().click({ timeout: 30_000 });
    await s.page.locator('iframe.webview').first().waitFor({ timeout: 30_000 });
    const view = s.page.frameLocator('iframe.webview').frameLocator('#active-frame');
    // the engine's progress: phase, count, percentage, time left, and a way to stop it
    const status = view.locator('.status.computing');
    await status.filter({ hasText: '%' }).waitFor({ timeout: 120_000 });
    assert.ok(await view.locator('#stop').isVisible(), 'a Stop button while the engine runs');
    await status.filter({ hasText: 'left in this step' }).waitFor({ timeout: 120_000 });
    await s.shot('sensitivity-0-progress');
    const slider = view.locator('#budget');
    await slider.waitFor({ timeout: 300_000 }); // the engine runs the Hessian metric first
    const rows = view.locator('.grid [data-layer]');
    await rows.first().waitFor();
    const labels = () => rows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
    const before = await labels();
    assert.ok(before.length >= 28, `one row per layer, saw ${before.length}`);
    assert.match((await view.locator('.heatlegend').textContent()) ?? '', /sensitivity \(hessian, log scale\)/);
    assert.match((await view.locator('.explain').textContent()) ?? '', /Predicted Δloss: how much the model's loss should grow/);
    const ticks = await view.locator('svg.chart text').allTextContents();
    assert.ok(ticks.includes('predicted Δloss (log scale)') && ticks.includes('average bits per weight'), JSON.stringify(ticks));
    assert.ok(ticks.filter((t) => /^[\d.]+$/.test(t)).every((t) => t.length <= 5), `round x ticks: ${JSON.stringify(ticks)}`);
    await s.shot('sensitivity-1-open');

    await slider.focus();
    await s.page.keyboard.press('Home'); // the smallest budget: every free layer at 2 bits
    let low = await labels();
    for (let i = 0; i < 40 && JSON.stringify(low) === JSON.stringify(before); i++) {
      await s.page.waitForTimeout(250); // the re-solve answers asynchronously
      low = await labels();
    }
    assert.notDeepEqual(low, before, 'moving the slider changes the allocation');
    assert.ok(low.filter((l) => /: 2 bits/.test(l)).length > before.filter((l) => /: 2 bits/.test(l)).length, 'a smaller budget gives more 2-bit layers');
    await s.shot('sensitivity-2-slider-low');

    await view.locator('#write').click();
    const editor = s.page.locator('.monaco-editor .view-lines').first();
    await editor.filter({ hasText: 'allocation (QRecipe sensitivity)' }).waitFor({ timeout: 20_000 });
    await editor.click();
    await s.page.keyboard.press('Control+S');
    const file = path.join(s.workspace, 'qrecipe-quickstart', 'mixed.qrecipe');
    const deadline = Date.now() + 10_000;
    let text = '';
    while (Date.now() < deadline && !(text = readFileSync(file, 'utf8')).includes('allocation (QRecipe sensitivity)')) await s.page.waitForTimeout(250);
    const written = [...text.matchAll(/override "([^"]+)" \{ bits (\d) \}/g)].map((m) => [m[1], Number(m[2])] as const);
    assert.ok(written.length >= 28, `one override per layer in the saved file, saw ${written.length}`);
    const shown = new Map(low.map((l) => { const m = /^(.+): (\d) bits/.exec(l)!; return [m[1], Number(m[2])] as const; }));
    for (const [name, bits] of written) if (shown.has(name)) assert.equal(bits, shown.get(name), `${name} written as allocated`);
    assert.doesNotMatch(text, /budget 3bits/, 'the budget follows the allocation');
    await view.locator('.written').waitFor();
    await s.shot('sensitivity-3-written');
    // the written recipe checks clean: no QR206 (budget below) nor QR209 (budget above the allocation)
    const check = spawnSync(process.execPath, [path.resolve('dist/cli.js'), 'check', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /QR20[69]/);
    assert.equal(await s.page.locator('.monaco-editor .squiggly-error').count(), 0, 'no error on the written recipe');
  } catch (err) {
    await s.shot('sensitivity-failure');
    throw err;
  } finally {
    await s.close();
  }
});

for (const [recipe, what] of [['examples/quickstart.qrecipe', 'tiny-lm'], ['examples/ppocr.qrecipe', 'ppocr']] as const) {
  test(`SPADE view on the ${what}: a trace with its faithfulness badge and per-layer strip`, { timeout: 600_000 }, async () => {
    const s = await openSession();
    try {
      await s.open(recipe);
      await s.commandOpening('QRecipe: Show Sensitivity', 'iframe.webview');
      const view = s.page.frameLocator('iframe.webview').frameLocator('#active-frame');
      const tab = view.locator('button.tab', { hasText: 'SPADE' });
      await tab.waitFor({ timeout: 300_000 });
      await tab.click();
      await view.locator('#sample option').first().waitFor({ state: 'attached' });
      await view.locator('#run-spade').click();
      const badge = view.locator('.faith vscode-badge');
      await badge.waitFor({ timeout: 400_000 });
      assert.match((await badge.textContent()) ?? '', /top-1 (unchanged|changed)/);
      assert.ok(await view.locator('.strip .scell').count() > 0, 'one strip cell per traced layer');
      await s.shot(`spade-${what}`);
    } catch (err) {
      await s.shot(`spade-${what}-failure`);
      throw err;
    } finally {
      await s.close();
    }
  });
}
