// Issue 20 against the real language server process: recipes and models from strangers cannot hang
// or crash it. Each test opens the hostile input and then checks that the server still answers
// other requests at once and publishes diagnostics within a bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LspClient, type PublishedDiagnostics } from './client';
import { buildServer } from './build-server';

let c: LspClient;
const dir = path.join(process.cwd(), 'test', 'lsp');
const uriOf = (name: string) => pathToFileURL(path.join(dir, name)).href;
let version = 0;

before(async () => {
  await buildServer();
  c = await LspClient.start(undefined, { QRECIPE_LSP_DEBOUNCE_MS: '0' });
});
after(async () => { await c.stop(); });

function open(name: string, text: string): string {
  const uri = uriOf(name);
  c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'qrecipe', version: ++version, text } });
  return uri;
}
const diagsFor = (uri: string, timeoutMs = 10000) => c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri, timeoutMs);

const MODEL = 'model "../fixtures/tiny-lm/model.onnx"\n';

/** Time for the server to answer a cheap request on another document. */
async function responsiveMs(): Promise<number> {
  const other = open(`other-${version}.qrecipe`, 'quantize rtn { bits 4 }\n');
  const t0 = performance.now();
  await c.request('textDocument/documentSymbol', { textDocument: { uri: other } });
  return performance.now() - t0;
}

test('patterns that freeze a backtracking engine: diagnostics at once, the server keeps answering (issue 20 #2)', async () => {
  const text = MODEL + [
    'quantize rtn {',
    '  targets "re:(a+)+$" "re:(.*)*_projx$" "*x*x*x*x*x*x*x*y" "re:((.*)*)*layers\\.\\d+\\.mlp$"',
    '  ignore "re:(a|a)*b$"',
    '}',
    'prune magnitude { targets "re:(x)\\1" }',
  ].join('\n') + '\n';
  const wait = diagsFor(uriOf('patterns.qrecipe'), 5000);
  const t0 = performance.now();
  open('patterns.qrecipe', text);
  const answer = responsiveMs(); // asked while the analysis runs
  const d = await wait;
  const ms = performance.now() - t0;
  assert.ok(await answer < 1000, `another request took ${(await answer).toFixed(0)} ms while the analysis ran`);
  assert.ok(ms < 3000, `diagnostics after ${ms.toFixed(0)} ms`);
  const codes = d.diagnostics.map((x) => x.code);
  assert.ok(codes.includes('QR201'), JSON.stringify(d.diagnostics.map((x) => x.message))); // the patterns match nothing, and say so
  const refused = d.diagnostics.find((x) => x.code === 'QR115');
  assert.ok(refused && /back-reference \\1 .*refused/.test(refused.message), JSON.stringify(d.diagnostics));
  assert.equal(refused.range.start.line, 5);
  const after = await responsiveMs();
  assert.ok(after < 500, `another request took ${after.toFixed(0)} ms`);
});

test('model "/dev/zero" and a FIFO as the model: a located warning at once, nothing read, no hang (issue 20 #3)', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-lsp-'));
  const pipe = path.join(tmp, 'model.onnx');
  execFileSync('mkfifo', [pipe]);
  for (const [name, model, why] of [['zero.qrecipe', '/dev/zero', /character device, not a regular file/], ['fifo.qrecipe', pipe, /FIFO \(named pipe\), not a regular file/]] as const) {
    const wait = diagsFor(uriOf(name), 3000);
    const t0 = performance.now();
    open(name, `model ${JSON.stringify(model)}\nquantize rtn { bits 4 }\n`);
    const d = await wait;
    assert.ok(performance.now() - t0 < 2000, `${name}: ${(performance.now() - t0).toFixed(0)} ms`);
    const w = d.diagnostics.find((x) => x.code === 'QR207');
    assert.ok(w && why.test(w.message), JSON.stringify(d.diagnostics));
    assert.equal(w.range.start.line, 0);
    assert.ok(await responsiveMs() < 500);
  }
});

test('an export path outside the workspace or over the model is an error while typing, at the path (issue 20 #1)', async () => {
  const text = MODEL + 'quantize rtn { bits 4 }\nexport onnx-fakequant "/tmp/victim/.bashrc"\n';
  const wait = diagsFor(uriOf('export-path.qrecipe'));
  const uri = open('export-path.qrecipe', text);
  const d = await wait;
  const e = d.diagnostics.find((x) => x.code === 'QR130');
  assert.ok(e && e.severity === 1, JSON.stringify(d.diagnostics));
  assert.deepEqual(e.range.start, { line: 2, character: 22 });
  const v = ++version;
  const next = c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.version === v);
  c.notify('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ text: MODEL + 'quantize rtn { bits 4 }\nexport onnx-fakequant "../fixtures/tiny-lm/model.onnx"\n' }] });
  const d2 = await next;
  assert.ok(d2.diagnostics.some((x) => x.code === 'QR131' || x.code === 'QR130'), JSON.stringify(d2.diagnostics));
});

test('an export path that holds a file already is a QR401 warning while typing, at the path; gone when the file is (issue 19)', async () => {
  const { rmSync, writeFileSync } = await import('node:fs');
  const name = `exists-${process.pid}.onnx`;
  const file = path.join(dir, name);
  writeFileSync(file, 'an earlier export');
  try {
    const text = MODEL + `quantize rtn { bits 4 }\nexport onnx-fakequant "${name}"\n`;
    const wait = diagsFor(uriOf('export-exists.qrecipe'));
    const uri = open('export-exists.qrecipe', text);
    const d = await wait;
    const w = d.diagnostics.find((x) => x.code === 'QR401');
    assert.ok(w && w.severity === 2, JSON.stringify(d.diagnostics));
    assert.deepEqual(w.range.start, { line: 2, character: 22 });
    assert.match(w.message, /exists already: a run will ask before replacing it \(VS Code\) or stop before any compute unless given --force \(CLI\)/);
    assert.ok(!d.diagnostics.some((x) => x.severity === 1), 'a warning, not an error');
    rmSync(file);
    const v = ++version;
    const next = c.waitFor<PublishedDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri && p.version === v);
    c.notify('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ text: text + '\n' }] });
    assert.ok(!(await next).diagnostics.some((x) => x.code === 'QR401'));
  } finally {
    rmSync(file, { force: true });
  }
});

test('large recipes: 100k data sets or 10 MB of junk get QR132 at once; a 15,000-stage recipe is checked while other requests are answered (issue 20 #8)', async () => {
  for (const [name, text] of [
    ['data100k.qrecipe', MODEL + Array.from({ length: 100_000 }, (_, k) => `data d${k} { text "c.txt" }`).join('\n')],
    ['junk.qrecipe', 'x=\u0000"'.repeat(2_500_000)],
  ] as const) {
    const wait = diagsFor(uriOf(name), 5000);
    const t0 = performance.now();
    open(name, text);
    const answer = responsiveMs();
    const d = await wait;
    assert.ok(performance.now() - t0 < 3000, `${name}: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual(d.diagnostics.map((x) => x.code), ['QR132']);
    assert.ok(await answer < 1000, `${name}: another request took ${(await answer).toFixed(0)} ms`);
  }
  // below the bound: checked in full, in slices
  const stages = MODEL + 'quantize rtn { targets "Linear"  bits 4  group 64 }\n'.repeat(15_000);
  const wait = diagsFor(uriOf('stages.qrecipe'), 60_000);
  open('stages.qrecipe', stages);
  const lat: number[] = [];
  let done = false;
  const probe = (async () => { while (!done) lat.push(await responsiveMs()); })();
  const d = await wait;
  done = true;
  await probe;
  assert.ok(d.diagnostics.every((x) => x.code !== 'QR132' && x.code !== 'QR199'));
  lat.sort((a, b) => a - b);
  const worst = lat[lat.length - 1]!;
  console.log(`# ${lat.length} requests answered while a 15,000-stage recipe was analysed: median ${lat[Math.floor(lat.length / 2)]!.toFixed(0)} ms, worst ${worst.toFixed(0)} ms`);
  assert.ok(lat.length >= 3, `only ${lat.length} requests answered during the analysis`);
  assert.ok(worst < 1000, `a request waited ${worst.toFixed(0)} ms behind the analysis`);
});

test('a negative, non-numeric or missing Content-Length is dropped and the next message is answered (issue 20 #9)', async () => {
  const { spawn } = await import('node:child_process');
  for (const bad of ['Content-Length: -5\r\n\r\n', 'Content-Length: abc\r\n\r\n{"x":1}', 'X-Junk: 1\r\n\r\n', 'Content-Length: 1e3\r\n\r\n']) {
    const p = spawn(process.execPath, [path.join(process.cwd(), 'dist', 'server.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const send = (o: object): void => { const b = Buffer.from(JSON.stringify(o)); p.stdin.write(`Content-Length: ${b.length}\r\n\r\n`); p.stdin.write(b); };
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
    p.stdin.write(bad);
    send({ jsonrpc: '2.0', id: 2, method: 'shutdown', params: null });
    const t0 = performance.now();
    while (!/"id":2/.test(out) && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    p.kill();
    assert.match(out, /"id":2/, `no answer after ${JSON.stringify(bad)}; stderr: ${err}`);
    assert.match(err, /dropped/);
  }
});
