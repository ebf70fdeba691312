// The sensitivity visualizer in a real VS Code (issue 8): open it for the mixed-precision recipe,
// move the budget slider with the keyboard, see the allocation change, write it into the recipe and
// find it in the file on disk.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openSession } from './session';

test('sensitivity: slider re-allocates, "Write allocation to recipe" edits the file', { timeout: 600_000 }, async () => {
  const s = await openSession();
  try {
    await s.open('examples/mixed-precision.qrecipe');
    await s.commandOpening('QRecipe: Show Sensitivity', 'iframe.webview');
    const view = s.page.frameLocator('iframe.webview').frameLocator('#active-frame');
    const slider = view.locator('#budget');
    await slider.waitFor({ timeout: 300_000 }); // the engine runs the Hessian metric first
    const rows = view.locator('.grid [data-layer]');
    await rows.first().waitFor();
    const labels = () => rows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
    const before = await labels();
    assert.ok(before.length >= 28, `one row per layer, saw ${before.length}`);
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
    const file = path.join(s.workspace, 'examples', 'mixed-precision.qrecipe');
    const deadline = Date.now() + 10_000;
    let text = '';
    while (Date.now() < deadline && !(text = readFileSync(file, 'utf8')).includes('allocation (QRecipe sensitivity)')) await s.page.waitForTimeout(250);
    const written = [...text.matchAll(/override "([^"]+)" \{ bits (\d) \}/g)].map((m) => [m[1], Number(m[2])] as const);
    assert.ok(written.length >= 28, `one override per layer in the saved file, saw ${written.length}`);
    const shown = new Map(low.map((l) => { const m = /^(.+): (\d) bits/.exec(l)!; return [m[1], Number(m[2])] as const; }));
    for (const [name, bits] of written) if (shown.has(name)) assert.equal(bits, shown.get(name), `${name} written as allocated`);
    await s.shot('sensitivity-3-written');
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
