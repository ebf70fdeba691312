// Fuzz family "recipes": the example and golden recipes mutated at random (bytes flipped, pieces
// inserted, ranges deleted, moved, repeated, other recipes spliced in) with hostile pieces among
// the insertions — patterns that freeze a backtracking engine, thousands of values on a line, deep
// braces, special files as paths, export paths outside the workspace. For each: the parser is
// lossless, nothing throws, no internal error (QR199), every range lies inside the text, formatting
// of an error-free result is idempotent, and the analysis ends within a bound that only a hang or
// a quadratic path would pass.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../language-server/core/util/rng';
import { parse } from '../../language-server/core/recipe/parser';
import { print } from '../../language-server/core/recipe/syntax';
import { analyze } from '../../language-server/core/recipe/analyze';
import { format } from '../../language-server/core/recipe/format';
import type { AnalysisHost } from '../../language-server/core/recipe/host';
import type { LayerInfo, ModelInventory } from '../../language-server/core/model/types';
import type { FuzzResult } from './family';

export function corpus(root = process.cwd()): string[] {
  const dirs = ['examples', 'test/unit/recipe/golden/ok', 'test/unit/recipe/golden/err'].map((d) => path.join(root, d));
  return dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.qrecipe')).map((f) => readFileSync(path.join(d, f), 'utf8')));
}

const HOSTILE = [
  '"re:(a+)+$"', '"re:(.*)*_projx$"', '"*x*x*x*x*x*x*x*y"', '"re:(x)\\1"', '"re:(?=a)b"', '"re:a{1001}"', `targets ${'"x" '.repeat(3000)}`,
  `candidates ${'3 '.repeat(3000)}`, '{'.repeat(300), '}'.repeat(300), 'use "/dev/zero"\n', 'model "/dev/zero"\n', 'data z { text "/dev/zero" }\n',
  'export onnx-qdq "/etc/passwd"\n', 'export onnx-qdq "../../../x.onnx"\n', 'export onnx-qdq "model.onnx"\n', `override "${'layers.*.'.repeat(200)}" { bits 8 }`,
  `data ${'d'.repeat(5000)} { text "c.txt" }\n`, '\uFEFF', '"re:' + '(a|'.repeat(150) + ')'.repeat(150) + '"', 'quantize rtn { bits 4 }\n'.repeat(300),
];
const PIECES = ['{', '}', '"', '#', '\n', '\r\n', ' ', 're:', '2:4', '50%', '2MiB', '3bits', 'on', 'quantize', 'prune', 'data', 'use "x.qrecipe"',
  'override "*" {', 'bits', 'group', '128', '-1', '1e309', '\u0000', '\uFFFF', '\uD800', 'é', '\t', '\\', '"re:(', 'targets', 'ignore'];

export function mutateRecipe(rng: Rng, src: string, others: string[]): string {
  let s = src;
  const n = 1 + rng.int(4);
  for (let k = 0; k < n; k++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(7)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(rng.int(rng.next() < 0.8 ? 128 : 0x10000)) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + PIECES[rng.int(PIECES.length)] + s.slice(at); break;
      case 2: s = s.slice(0, at) + HOSTILE[rng.int(HOSTILE.length)] + s.slice(at); break;
      case 3: s = s.slice(0, at) + s.slice(at + 1 + rng.int(40)); break;
      case 4: { const o = others[rng.int(others.length)]!; const a = rng.int(o.length + 1); s = s.slice(0, at) + o.slice(a, a + rng.int(120)) + s.slice(at); break; }
      case 5: { const b = Math.min(s.length, at + rng.int(200)); s = s.slice(0, b) + s.slice(at, b).repeat(1 + rng.int(20)) + s.slice(b); break; }
      default: { const b = rng.int(s.length + 1); const [x, y] = at < b ? [at, b] : [b, at]; s = s.slice(0, x) + s.slice(y) + s.slice(x, y); break; }
    }
  }
  return s;
}

function layer(name: string, rows: number, cols: number, op: LayerInfo['op'] = 'MatMul'): LayerInfo {
  return { name, tensorName: `${name}.weight`, nodeName: name, op, shape: [cols, rows], dtype: 'float32', rows, cols, transposed: op === 'MatMul', params: rows * cols, bytes: 4 * rows * cols, inputName: `${name}.in` };
}

function inventory(): ModelInventory {
  const layers = [layer('embed', 256, 192, 'Gather')];
  for (let b = 0; b < 4; b++) for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']) layers.push(layer(`layers.${b}.${p}`, 192, 192));
  layers.push(layer('lm_head', 256, 192));
  const params = layers.reduce((a, l) => a + l.params, 0);
  return { path: '/work/model.onnx', opset: 17, opTypes: ['Gather', 'MatMul'], layers, totalParams: params, totalBytes: 4 * params, fileBytes: 4 * params, layerParams: params, layerBytes: 4 * params };
}

/** An in-memory host: imports resolve to recipes of the corpus, files under /work exist, the write rules are the CLI's. */
function host(base: string): AnalysisHost {
  const inv = inventory();
  return {
    readFile: async (p) => (p === '/work/base.qrecipe' ? base : p === '/work/x.qrecipe' ? 'use "x.qrecipe"\n' : new Error(`not a regular file: ${p}`)),
    exists: async (p) => p.startsWith('/work/') || p === '/dev/zero',
    inventory: async () => inv,
    writeRules: () => ({ root: '/work', runsRoot: '/work/.qrecipe/runs' }),
  };
}

export async function fuzzRecipes(seed: number, deadline: number, maxCases = Infinity, boundMs = 3000): Promise<FuzzResult> {
  const rng = new Rng(seed);
  const base = corpus();
  const h = host(base[0]!);
  const failures: string[] = [];
  let cases = 0;
  while (cases < maxCases && performance.now() < deadline && failures.length < 20) {
    cases++;
    const text = mutateRecipe(rng, base[rng.int(base.length)]!, base);
    const ctx = `case ${cases} (seed ${seed}): ${JSON.stringify(text.slice(0, 200))}${text.length > 200 ? `... (${text.length} chars)` : ''}`;
    const t0 = performance.now();
    try {
      const p = parse(text);
      if (print(p.tree) !== text) failures.push(`not lossless: ${ctx}`);
      const a = await analyze('/work/fuzz.qrecipe', text, h);
      for (const d of a.diagnostics) {
        if (!(d.start >= 0 && d.start <= d.end && d.end <= text.length)) { failures.push(`range ${d.start}..${d.end} of ${text.length} (${d.code}): ${ctx}`); break; }
        if (d.code === 'QR199') { failures.push(`${d.message}: ${ctx}`); break; }
      }
      const f = format(text);
      if (f !== undefined && format(f) !== f) failures.push(`format not idempotent: ${ctx}`);
    } catch (err) {
      failures.push(`threw ${(err as Error).name}: ${(err as Error).message}: ${ctx}`);
    }
    const ms = performance.now() - t0;
    if (ms > boundMs) failures.push(`took ${ms.toFixed(0)} ms: ${ctx}`);
  }
  return { family: 'recipes', seed, cases, failures };
}
