// A user opens the quickstart recipe in a real VS Code (code-server + headless Chromium): the
// QRecipe mode and highlighting apply, the QRecipe view container is in the activity bar, and a
// broken line gets a diagnostic from the language server.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { openSession } from './session';

test('quickstart recipe: language mode, highlighting, view container, live diagnostics', async () => {
  const s = await openSession();
  try {
    await s.open('examples/quickstart.qrecipe');
    const mode = s.page.locator('#status\\.editor\\.mode');
    await mode.waitFor();
    await assert.doesNotReject(s.languageMode('QRecipe'));

    // Highlighting: the grammar gives keywords a token colour different from plain text. The editor
    // tokenises after the mode switches (asynchronously), so wait for the colours, up to 20 s. One
    // function for both calls: the distinct colours when there are at least `min`, else 0 (falsy).
    const colourCount = (min: number): number => {
      const n = new Set([...document.querySelectorAll('.view-lines .view-line span span')].map((e) => getComputedStyle(e).color)).size;
      return n >= min ? n : 0;
    };
    await s.page.waitForFunction(colourCount, 3, { timeout: 20_000, polling: 200 }).catch(() => undefined); // the assertion below says what was seen
    const colours = await s.page.evaluate(colourCount, 0);
    assert.ok(colours >= 3, `expected several token colours, saw ${colours}`);

    const container = s.page.locator('.activitybar [aria-label^="QRecipe"]');
    assert.equal(await container.count() > 0, true, 'QRecipe view container in the activity bar');

    // Break a line: go to the end of the document and type an unknown key.
    await s.page.locator('.monaco-editor .view-lines').first().click();
    await s.page.keyboard.press('Control+End');
    await s.page.keyboard.type('\nquantize gptq { bitz 4 }\n');
    const squiggle = s.page.locator('.monaco-editor .squiggly-error');
    await squiggle.first().waitFor({ timeout: 20_000 });
    await s.shot('language-diagnostic');
    await container.first().click();
    await s.page.locator('.pane-header[aria-label*="Runs"], .pane-header:has-text("Runs")').first().waitFor({ timeout: 10_000 });
    await s.shot('qrecipe-view-container');
  } catch (err) {
    await s.shot('language-failure');
    throw err;
  } finally {
    await s.close();
  }
});
