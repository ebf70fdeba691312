// One code-server + Chromium session for a UI test: the installed .vsix, a fresh workspace copy, the
// workbench loaded and the helpers the tests share (command palette, quick open, screenshots).
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
// @ts-expect-error plain ES module shared with the e2e driver
import { startCodeServer, launchBrowser, makeWorkspace } from '../tools/code-server.mjs';

export interface Session {
  page: Page;
  workspace: string;
  shot(name: string): Promise<string>;
  command(title: string): Promise<void>;
  /**
   * Runs a command that opens something (`selector` on the page): when it has not appeared within
   * `ms`, logs the notifications shown (why the command did nothing, if it said) and runs the
   * command once more — the palette's Enter is occasionally lost in a headless window.
   */
  commandOpening(title: string, selector: string, ms?: number): Promise<void>;
  /** Runs a command expected to show a notification matching `text` and returns its text; like commandOpening, it runs the command once more if none shows. */
  commandNotifying(title: string, text: RegExp, ms?: number): Promise<string>;
  open(relativePath: string): Promise<void>;
  /** Waits until the status bar shows the active editor in language mode `name` (e.g. 'QRecipe'). */
  languageMode(name: string, ms?: number): Promise<void>;
  /** Waits for a notification toast whose text matches, and returns its text. */
  notification(text: RegExp, timeoutMs?: number): Promise<string>;
  /** Opens the QRecipe view container and returns the Runs view's rows' text. */
  runRows(): Promise<string[]>;
  /** Polls the Runs view's rows (every second) until `accept` holds; throws with the last rows after `timeoutMs`. */
  waitForRunRows(accept: (rows: string[]) => boolean, timeoutMs: number): Promise<string[]>;
  /** Selects the first two Runs rows matching `rows`, runs the view's Compare action and returns the Compare webview once it shows them. */
  compareFirstTwo(rows: RegExp): Promise<import('playwright-core').FrameLocator>;
  /** Opens the QRecipe view container and returns one of its views (`Runs`, `Models`). */
  view(name: 'Runs' | 'Models'): Promise<import('playwright-core').Locator>;
  /** The visible webview's content frame (Compare, Sensitivity, a markdown preview). */
  webview(): import('playwright-core').FrameLocator;
  close(): Promise<void>;
}

const root = path.resolve(__dirname, '../../..');

/**
 * `empty`: a new, empty folder (a newcomer's first hour: nothing but the installed .vsix), instead of
 * the copy of the repository's examples and fixtures.
 */
export async function openSession(opts: { trust?: boolean; empty?: boolean } = {}): Promise<Session> {
  const tools = JSON.parse(process.env.QRECIPE_E2E_TOOLS ?? '{}');
  const vsix = process.env.QRECIPE_E2E_VSIX;
  const results = process.env.QRECIPE_E2E_RESULTS ?? path.join(root, 'test-results');
  if (!tools.codeServer || !vsix) throw new Error('run the UI tests through test/e2e.mjs (it sets up code-server and the .vsix)');
  const workspace: string = opts.empty ? mkdtempSync(path.join(os.tmpdir(), 'qrecipe-empty-')) : makeWorkspace(root);
  const server = await startCodeServer({ tools, vsix, folder: workspace, workDir: mkdtempSync(path.join(os.tmpdir(), 'qrecipe-ui-')), trust: opts.trust ?? true });
  const browser: BrowserContext = await launchBrowser(tools);
  const page = await browser.newPage();
  await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
  await page.bringToFront();
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForSelector('.statusbar', { timeout: 60_000 });
  const session: Session = {
    page,
    workspace,
    async shot(name) {
      const file = path.join(results, 'screenshots', `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    async command(title) {
      // Just after the workbench loads, extensions' commands may not be in the palette yet: try again.
      for (let attempt = 0; ; attempt++) {
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible' });
        await input.fill(`>${title}`);
        const found = await page.locator('.quick-input-list .monaco-list-row').first().filter({ hasText: title }).waitFor({ timeout: 15_000 }).then(() => true, () => false);
        if (found) { await page.keyboard.press('Enter'); return; }
        await page.keyboard.press('Escape');
        if (attempt >= 3) throw new Error(`the command palette never listed '${title}'`);
        await page.waitForTimeout(2000);
      }
    },
    async commandOpening(title, selector, ms = 30_000) {
      await this.command(title);
      if (await page.locator(selector).first().waitFor({ timeout: ms }).then(() => true, () => false)) return;
      const bell = page.locator('[id="status.notifications"]').first();
      await bell.click();
      const shown = await page.locator('.notification-list-item').allTextContents().catch(() => []);
      if (await page.locator('.notifications-center.visible').count()) await bell.click();
      console.log(`'${title}' showed no ${selector} within ${ms} ms; notifications: ${JSON.stringify(shown)}; running it again`);
      await this.command(title);
    },
    async commandNotifying(title, text, ms = 20_000) {
      await this.command(title);
      const first = await this.notification(text, ms).catch(() => undefined);
      if (first !== undefined) return first;
      console.log(`'${title}' showed no notification matching ${text} within ${ms} ms; running it again`);
      await this.command(title);
      return this.notification(text, ms);
    },
    async open(relativePath) {
      await page.keyboard.press('Control+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible' });
      await input.fill(relativePath);
      // Quick open first lists recently opened files: wait until the wanted one is on top.
      await page.locator('.quick-input-list .monaco-list-row').first().filter({ hasText: path.basename(relativePath) }).waitFor();
      await page.keyboard.press('Enter');
      await page.locator(`.tab[data-resource-name="${path.basename(relativePath)}"]`).first().waitFor();
    },
    async languageMode(name, ms = 20_000) {
      await page.waitForFunction((n) => document.querySelector('#status\\.editor\\.mode')?.textContent?.includes(n), name, { timeout: ms });
    },
    async notification(text, timeoutMs = 30_000) {
      // A headless window never has focus, and VS Code holds toasts back until it does: so look in
      // the notification centre too, which lists every notification at once.
      const item = page.locator('.notification-list-item').filter({ hasText: text }).first();
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (await item.isVisible().catch(() => false)) return (await item.textContent()) ?? '';
        // The bell in the status bar toggles the centre; a click works wherever the focus is
        // (a key press would go to a focused webview).
        const bell = page.locator('[id="status.notifications"]').first();
        await bell.click();
        const found = await item.waitFor({ timeout: 1500 }).then(() => true, () => false);
        const content = found ? ((await item.textContent()) ?? '') : '';
        if (await page.locator('.notifications-center.visible').count()) await bell.click();
        if (found) return content;
        if (Date.now() > end) throw new Error(`no notification matching ${text} within ${timeoutMs} ms`);
        await page.waitForTimeout(1500);
      }
    },
    async runRows() {
      const view = await this.view('Runs');
      return view.locator('.monaco-list-row').allTextContents();
    },
    async waitForRunRows(accept, timeoutMs) {
      const end = Date.now() + timeoutMs;
      let rows: string[] = [];
      while (Date.now() < end) {
        rows = await this.runRows();
        if (accept(rows)) return rows;
        await page.waitForTimeout(1000);
      }
      throw new Error(`runs view never satisfied the condition; rows: ${JSON.stringify(rows)}`);
    },
    async compareFirstTwo(rows) {
      const runRows = (await this.view('Runs')).locator('.monaco-list-row').filter({ hasText: rows });
      await runRows.nth(0).click();
      await runRows.nth(1).click({ modifiers: ['Control'] });
      await page.locator('.pane-header .action-label[aria-label*="Compare Runs"]').first().click();
      // a click on a run row also opens its page (a webview too), which may land after the Compare
      // panel: bring the Compare tab to the front before reading it
      const compareTab = page.locator('.tab', { hasText: 'Compare' }).first();
      await compareTab.waitFor({ timeout: 30_000 });
      await page.waitForTimeout(1500);
      await compareTab.click();
      const view = this.webview();
      await view.locator('text=Comparing 2 runs').waitFor({ timeout: 30_000 });
      return view;
    },
    async view(name) {
      const view = page.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: new RegExp(`^${name}`, 'i') }) }).first();
      if (!(await view.isVisible().catch(() => false))) await page.locator('.activitybar [aria-label^="QRecipe"]').first().click();
      await view.waitFor();
      const header = view.locator('.pane-header').first();
      if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
      return view;
    },
    webview() {
      return page.frameLocator('iframe.webview:visible').first().frameLocator('#active-frame');
    },
    async close() {
      await browser.close();
      await server.stop();
    },
  };
  return session;
}
