// The cancel deadline (extension/runner/cancel.ts): a run that does not unwind within the grace time
// (an onnxruntime run in flight) is recorded by its stop function and the process ends with 130;
// a run that unwinds in time disarms it. Each case runs in a child process (this file, re-entered).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { armCancelDeadline, listenForCancel, removeOwnTempFiles } from '../../../extension/runner/cancel';
import { tempPathFor } from '../../../language-server/core/util/atomic';

const child = process.env.QR_CANCEL_CHILD;
if (child) {
  const [mode, dir] = child.split(':') as [string, string];
  const cancel = listenForCancel({ stdin: false });
  const tmp = tempPathFor(path.join(dir, 'model.onnx'));
  writeFileSync(tmp, 'half a model');
  const disarm = armCancelDeadline(cancel.signal, () => {
    writeFileSync(path.join(dir, 'record'), 'cancelled');
    removeOwnTempFiles([dir]);
  }, 300);
  process.stdout.write('ready\n');
  if (mode === 'stuck') {
    // Busy elsewhere (as in an onnxruntime run) and never looking at the signal.
    setTimeout(() => undefined, 30_000);
  } else {
    const work = setTimeout(() => undefined, 30_000);
    cancel.signal.addEventListener('abort', () => {
      clearTimeout(work);
      disarm();
      writeFileSync(path.join(dir, 'record'), 'unwound');
      cancel.dispose();
      // (set explicitly: node:test, loaded by this file, would set the exit code otherwise)
      setTimeout(() => process.exit(130), 600);
    });
  }
} else {
  const run = async (mode: string): Promise<{ code: number | null; ms: number; dir: string }> => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-deadline-'));
    const p = spawn(process.execPath, [__filename], { env: { ...process.env, QR_CANCEL_CHILD: `${mode}:${dir}` }, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    const t0 = performance.now();
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
    return { code, ms: performance.now() - t0, dir };
  };

  test('a run stuck past the grace time is recorded by the stop function, its temp files removed, exit 130', async () => {
    const r = await run('stuck');
    assert.equal(r.code, 130);
    assert.ok(r.ms >= 250 && r.ms < 2000, `${r.ms} ms`);
    assert.equal(readFileSync(path.join(r.dir, 'record'), 'utf8'), 'cancelled');
    assert.ok(!existsSync(path.join(r.dir, `.model.onnx.${process.pid}.x.tmp`)));
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync(r.dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('a run that unwinds in time disarms the deadline and ends on its own', async () => {
    const r = await run('unwinds');
    assert.equal(r.code, 130);
    assert.ok(r.ms >= 500, 'not ended by the deadline (300 ms)');
    assert.equal(readFileSync(path.join(r.dir, 'record'), 'utf8'), 'unwound');
  });
}
