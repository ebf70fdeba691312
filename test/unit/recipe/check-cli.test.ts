// `qrecipe check` in-process with the real inventory reader on the tiny-LM fixture: the text and
// JSON outputs and the exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../extension/runner/commands/check';

async function capture(args: string[]): Promise<{ code: number; out: string }> {
  const log = console.log, err = console.error;
  let out = '';
  console.log = (...a: unknown[]) => { out += a.join(' ') + '\n'; };
  console.error = () => undefined;
  try { return { code: await main(args), out }; } finally { console.log = log; console.error = err; }
}

test('qrecipe check: file:line:col lines, JSON records, exit 1 on errors and 0 without', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-check-'));
  try {
    const model = path.join(process.cwd(), 'test', 'fixtures', 'tiny-lm', 'model.onnx');
    const bad = path.join(dir, 'bad.qrecipe');
    writeFileSync(bad, `model ${JSON.stringify(model)}\nquantize rtn {\n  bits 9  group 128\n  ignore "lm_haed"\n}\nexport onnx-matmulnbits "o.onnx"\n`);
    const t = await capture([bad]);
    assert.equal(t.code, 1);
    const lines = t.out.trim().split('\n');
    assert.ok(lines.some((l) => l.startsWith(`${bad}:3:8: error QR105:`)), t.out);
    assert.ok(lines.some((l) => l.startsWith(`${bad}:3:17: info QR204: Group size 128`)), t.out);
    assert.ok(lines.some((l) => l.startsWith(`${bad}:4:10: warning QR203:`)), t.out);
    const j = await capture([bad, '--json']);
    const recs = JSON.parse(j.out) as { code: string; severity: string; range: { start: { line: number; character: number } }; message: string }[];
    assert.deepEqual(recs.map((r) => r.code), ['QR105', 'QR204', 'QR203']);
    assert.deepEqual(recs[1].range.start, { line: 2, character: 16 });
    const good = path.join(dir, 'good.qrecipe');
    writeFileSync(good, `model ${JSON.stringify(model)}\nquantize rtn { bits 4  group 64 }\n`);
    assert.equal((await capture([good])).code, 0);
    const odd = path.join(dir, 'odd.qrecipe');
    writeFileSync(odd, `model ${JSON.stringify(model)}\nquantize rtn { targets "re:.*self_attn"  bits 4  group 48 }\nexport onnx-matmulnbits "o.onnx"\n`);
    const o = await capture([odd, '--json']);
    assert.equal(o.code, 0, 'a warning alone does not fail');
    assert.match(o.out, /power of two/);
    assert.equal((await capture([])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every example passes qrecipe check against the real fixtures (models read by readInventory)', async () => {
  const dir = path.join(process.cwd(), 'examples');
  for (const f of ['quickstart', 'sparsegpt-2of4', 'mixed-precision', 'fmnist-cnn', 'ppocr', 'hf-llama-fp16']) {
    const r = await capture([path.join(dir, `${f}.qrecipe`), '--json']);
    assert.equal(r.code, 0, f);
    assert.deepEqual(JSON.parse(r.out), [], `${f}: ${r.out}`);
  }
});
