// Renders the built Sensitivity webview (dist/webviews/sensitivity.js) in headless Chromium with a
// mock extension host: answers `ready` with generated data and `sensitivity/solve` with the real
// Allocator, moves the slider, pins a layer, opens SPADE, and fails on any page error or CSP
// violation. Writes screenshots to out/bench/. Run: npm run bench:sensitivity-webview
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Allocator } from '../../language-server/core/sensitivity/allocate';
import { layerBytes } from '../../language-server/core/cost/cost';
import type { LayerSensitivity, SensitivityResult, SensitivityViewData, SpadeResult } from '../../language-server/core/sensitivity/types';
import { isFromWebview, isToWebview, type ToWebview } from '../../webviews/protocol';

const root = process.cwd();
const cands = [2, 3, 4, 8];
const layers: LayerSensitivity[] = [];
for (let b = 0; b < 4; b++) for (const [p, rows, cols] of [['q_proj', 192, 192], ['k_proj', 192, 192], ['v_proj', 192, 192], ['o_proj', 192, 192], ['gate_proj', 512, 192], ['up_proj', 512, 192], ['down_proj', 192, 512]] as const) {
  const s = (1 + ((b * 7 + p.length) % 5)) * (p === 'v_proj' ? 4 : 1);
  layers.push({
    name: `layers.${b}.${p}`, op: 'MatMul', rows, cols, params: rows * cols, candidates: cands, metric: 'hessian',
    scores: { hessian: cands.map((x) => s * 4 ** -(x - 2)), gradient: cands.map((x) => 0.7 * s * 4 ** -(x - 2)) },
    outlierFraction: cands.map((x) => (x === 2 ? 0.005 : 0)), relError: cands.map((x) => 4 ** -(x - 1)),
    bytes: cands.map((x) => layerBytes({ rows, cols }, { bits: x, group: 64, symmetric: false, outliers: x === 2 ? 0.005 : 0 })),
  });
}
const mock: SensitivityResult = {
  version: 1, recipe: '/w/examples/mixed-precision.qrecipe', model: '/w/model.onnx', modelHash: 'm', dataHash: 'd', dataset: 'calib', samples: 32,
  metricAsked: 'hessian', group: 64, symmetric: false, outliers: 0.005, budget: { kind: 'bits', bits: 3 }, stage: { index: 0, line: 6 },
  layers, measured: [], seconds: {}, notes: [], spadeSamples: ['the quick brown fox', 'NAME ls - list'],
};
// SENSITIVITY_JSON=result.json (from `qrecipe sensitivity --json`) renders a real result instead.
const result: SensitivityResult = process.env.SENSITIVITY_JSON ? JSON.parse(readFileSync(process.env.SENSITIVITY_JSON, 'utf8')) as SensitivityResult : mock;
const layersOf = result.layers;
const text = 'the quick brown fox';
const spade: SpadeResult = {
  version: 1, model: result.model, sample: text, input: { kind: 'tokens', tokens: [...text] }, method: 'gradient-x-input',
  saliency: { dense: [...text].map((_, i) => Math.sin(i)), trace: [...text].map((_, i) => Math.sin(i + 0.5)) },
  layers: layers.map((l, i) => ({ name: l.name, target: 0.5 + i / 60, sparsity: 0.5 + i / 60, fidelity: 0.01 * i })),
  faithfulness: { kl: 0.03, top1Dense: 'x', top1Trace: 'x', unchanged: true }, augmentations: 64, seconds: 1,
};

const imageSpade: SpadeResult = {
  ...spade, sample: 'clean-00.png', input: { kind: 'image', width: 40, height: 6 }, method: 'occlusion',
  saliency: { dense: Array.from({ length: 240 }, (_, i) => Math.sin(i / 7)), trace: Array.from({ length: 240 }, (_, i) => Math.sin(i / 7 + 0.3)) },
  faithfulness: { kl: 0.2, top1Dense: 'Protecting Users', top1Trace: 'Protecting Users', unchanged: true },
};

async function main(): Promise<void> {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  const fromView: unknown[] = [];
  const send = async (m: ToWebview): Promise<void> => {
    if (!isToWebview(m)) throw new Error(`mock host built an invalid message ${(m as { type: string }).type}`);
    await page.evaluate((msg) => window.postMessage(msg, '*'), m as unknown as Record<string, unknown>);
  };
  const allocators = new Map<string, Allocator>();
  await page.exposeFunction('__host', async (m: unknown) => {
    fromView.push(m);
    if (!isFromWebview(m)) { errors.push(`invalid message from the view: ${JSON.stringify(m)}`); return; }
    if (m.type === 'ready') {
      const al = new Allocator(layersOf);
      const data: SensitivityViewData = { result, frontier: { bytes: al.frontier('bytes'), bits: al.frontier('bits') }, ranges: { bytes: al.range('bytes'), bits: al.range('bits') }, spade: [spade, imageSpade], spadeSamples: [...result.spadeSamples!, 'clean-00.png'] };
      await send({ type: 'sensitivity/data', data });
    } else if (m.type === 'sensitivity/solve') {
      const key = `${m.metric}${JSON.stringify(m.pins)}`;
      const al = allocators.get(key) ?? new Allocator(layersOf, { metric: m.metric, pins: m.pins });
      allocators.set(key, al);
      await send({ type: 'sensitivity/solved', inReplyTo: m.requestId, allocation: al.solve(m.budget) });
    }
  });
  const nonce = 'n0nce';
  const script = readFileSync(path.join(root, 'dist/webviews/sensitivity.js'), 'utf8');
  const stub = `window.acquireVsCodeApi = () => { let st; return { postMessage: (m) => window.__host(m), getState: () => st, setState: (s) => { st = s; } }; };`;
  await page.route('http://view/**', (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'">
<style nonce="${nonce}">:root{--vscode-foreground:#ccc;--vscode-editor-background:#1e1e1e;--vscode-charts-red:#f14c4c;--vscode-charts-blue:#3794ff;--vscode-charts-green:#89d185;--vscode-charts-orange:#d18616;--vscode-charts-purple:#b180d7;--vscode-charts-yellow:#cca700;--vscode-focusBorder:#007fd4;--vscode-descriptionForeground:#999;--vscode-editorWidget-background:#252526} body{background:#1e1e1e}</style>
</head><body data-nonce="${nonce}" data-initial='{"recipe":"/w/r.qrecipe"}'><div id="app"></div><script nonce="${nonce}">${stub}</script><script nonce="${nonce}">${script}</script></body></html>`,
  }));
  page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) errors.push(`CSP: ${m.text()}`); });
  await page.goto('http://view/index.html');
  await page.waitForSelector('.grow[data-layer]');
  await page.waitForFunction(() => document.querySelectorAll('.cell.chosen').length > 0);
  const before = await page.$$eval('.cell.chosen', (els) => els.map((e) => e.textContent).join());
  const slider = await page.$('#budget');
  await slider!.focus();
  for (let i = 0; i < 40; i++) await page.keyboard.press('ArrowRight');
  await page.waitForTimeout(300);
  const readout = await page.$eval('.readout', (e) => e.textContent);
  const after = await page.$$eval('.cell.chosen', (els) => els.map((e) => e.textContent).join());
  mkdirSync(path.join(root, 'out/bench'), { recursive: true });
  await page.screenshot({ path: path.join(root, 'out/bench/sensitivity-allocation.png'), fullPage: true });
  await page.click(`.grow[data-layer="${layersOf[2]!.name}"] .cell:nth-child(2)`);
  await page.waitForTimeout(200);
  const pinned = await page.$$eval('.cell.pinned', (els) => els.length);
  await page.focus(`.grow[data-layer="${layersOf[0]!.name}"]`);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.click('#write');
  await page.click('.tab:nth-child(2)');
  await page.waitForSelector('.tokens');
  await page.screenshot({ path: path.join(root, 'out/bench/sensitivity-spade.png'), fullPage: true });
  await page.selectOption('#sample', 'clean-00.png');
  await page.waitForSelector('canvas.pixels');
  await page.screenshot({ path: path.join(root, 'out/bench/sensitivity-spade-image.png'), fullPage: true });
  await browser.close();
  const types = fromView.map((m) => (m as { type: string }).type);
  console.log(`slider moved: allocation ${before === after ? 'UNCHANGED' : 'changed'}; readout: ${readout}`);
  console.log(`pinned cells: ${pinned}; messages from the view: ${[...new Set(types)].join(', ')}`);
  if (errors.length) { console.error(errors.join('\n')); process.exit(1); }
  if (before === after || pinned !== 1 || !types.includes('sensitivity/write-allocation') || !types.includes('sensitivity/reveal-layer')) process.exit(1);
  console.log('webview smoke check: ok (screenshots in out/bench/)');
}
void main().catch((e: unknown) => { console.error(e); process.exit(1); });
