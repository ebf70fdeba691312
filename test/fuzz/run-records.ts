// Fuzz family "run records": valid run.json records damaged at random (a field removed, retyped or
// replaced by junk, the text truncated, bytes flipped, a special file) are written into a store
// beside intact ones. Whatever is done to one record, listing the store never throws, every intact
// run is listed (valid, newest first), every damaged one is either valid or listed as broken with a
// reason, and each listed record passes the schema again.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../language-server/core/util/rng';
import { scanRuns } from '../../language-server/core/runs/store';
import { validateRecord } from '../../language-server/core/runs/record-schema';
import type { RunRecord } from '../../language-server/core/protocol/runner';
import type { FuzzResult } from './family';

export function sampleRecord(id: string, startedAt: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id, status: 'succeeded', recipePath: '/w/a.qrecipe', recipeText: 'model "m.onnx"\nquantize rtn { bits 4 }\n', recipeHash: 'h', modelPath: '/w/m.onnx', modelHash: 'mh',
    dataHashes: { calib: 'dh' }, seed: 0, versions: { qrecipe: '0.1.0', onnxruntime: '1.30.0', node: 'v20' }, device: 'cpu', pid: 1234567,
    startedAt, endedAt: startedAt, stageSeconds: { quantize: 1.5 }, metrics: { original: { perplexity: 2.5 }, compressed: { perplexity: 2.6, sizeBytes: 1000 } },
    layers: [{ name: 'l0', bits: 4, groupSize: 64, loss: 0.1 }], artifacts: { compressedModel: 'model.onnx', quant: 'quant.bin', exports: [{ path: '/w/out.onnx', format: 'onnx-qdq', bytes: 10, verified: true }], log: 'run.log' },
    warnings: ['w'], ...over,
  };
}

const JUNK: unknown[] = [null, 0, -1, 1e308, NaN, '', 'x', '../../etc/passwd', [], {}, true, [1, 'a'], { toString: 'x' }, '\u0000\u001b[2J'];

/** Every path of object keys and list indexes in a JSON value. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function damage(rng: Rng, rec: RunRecord): { text?: string; special?: 'dir' | 'dev' } {
  const json = JSON.parse(JSON.stringify(rec)) as Record<string, unknown>;
  const kind = rng.int(7);
  if (kind === 0) { const t = JSON.stringify(json); return { text: t.slice(0, rng.int(t.length)) }; }
  if (kind === 1) { const t = JSON.stringify(json).split(''); for (let k = 0; k < 3; k++) t[rng.int(t.length)] = String.fromCharCode(rng.int(128)); return { text: t.join('') }; }
  if (kind === 2) return rng.next() < 0.5 ? { special: 'dir' } : { special: 'dev' };
  const all = paths(json).filter((p) => p.length > 0);
  const p = all[rng.int(all.length)]!;
  let parent: Record<string | number, unknown> = json;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = p[p.length - 1]!;
  if (kind === 3) delete parent[last];
  else parent[last] = JUNK[rng.int(JUNK.length)];
  return { text: JSON.stringify(json) };
}

export async function fuzzRunRecords(seed: number, root: string, deadline: number, maxCases = Infinity): Promise<FuzzResult> {
  const rng = new Rng(seed);
  const failures: string[] = [];
  let cases = 0;
  while (cases < maxCases && performance.now() < deadline && failures.length < 20) {
    cases++;
    const store = path.join(root, `store-${seed}-${cases}`);
    rmSync(store, { recursive: true, force: true });
    const intact = [0, 1, 2].map((k) => sampleRecord(`2026010${k + 1}-000000-ok${k}`, `2026-01-0${k + 1}T00:00:00.000Z`));
    for (const r of intact) { mkdirSync(path.join(store, r.id), { recursive: true }); writeFileSync(path.join(store, r.id, 'run.json'), JSON.stringify(r)); }
    const id = '20260105-000000-damaged';
    const d = damage(rng, sampleRecord(id, '2026-01-05T00:00:00.000Z'));
    const dir = path.join(store, id);
    mkdirSync(dir, { recursive: true });
    if (d.special === 'dir') mkdirSync(path.join(dir, 'run.json'));
    else if (d.special === 'dev') symlinkSync('/dev/zero', path.join(dir, 'run.json'));
    else writeFileSync(path.join(dir, 'run.json'), d.text!);
    const what = d.special ?? JSON.stringify(d.text!.slice(0, 200));
    try {
      const t0 = performance.now();
      const { runs, broken } = await scanRuns(store);
      if (performance.now() - t0 > 2000) failures.push(`listing took ${(performance.now() - t0).toFixed(0)} ms: ${what}`);
      const ids = runs.map((r) => r.record.id);
      for (const r of intact) if (!ids.includes(r.id)) failures.push(`intact run ${r.id} hidden by ${what}`);
      const listed = ids.includes(id) || broken.some((b) => b.id === id && b.reason.length > 0);
      if (!listed) failures.push(`damaged run neither valid nor broken: ${what}`);
      for (const r of runs) if ('problem' in validateRecord(r.record)) failures.push(`listed record does not validate: ${what}`);
      for (const r of runs) if (r.record.id !== path.basename(r.dir)) failures.push(`run in ${path.basename(r.dir)} listed as ${JSON.stringify(r.record.id)}: ${what}`);
      for (let k = 1; k < runs.length; k++) if (runs[k - 1]!.record.startedAt < runs[k]!.record.startedAt) failures.push(`not newest first: ${what}`);
    } catch (err) {
      failures.push(`listing threw ${(err as Error).message}: ${what}`);
    }
    rmSync(store, { recursive: true, force: true });
  }
  return { family: 'run-records', seed, cases, failures };
}
