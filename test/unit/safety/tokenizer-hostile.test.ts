// Issue 20 #2, #3 for tokenizer.json files: the library runs a tokenizer's Split and Replace
// patterns on JavaScript's backtracking RegExp, which nothing can stop once it runs (the event loop,
// and with it cancellation, is blocked). Patterns with exponential shapes are refused by name (the
// checker shows it, the runner never builds the tokenizer), and text with no place to cut for a long
// stretch is cut anyway, so a megabyte-long line (about 20 s of the library's regexes) cannot block
// the runner between two cancellation points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { backtrackingRisk } from '../../../language-server/core/util/backtracking';
import { chunkBoundaries, loadTokenizer } from '../../../language-server/core/model/data/tokenizer';
import { checkFile } from '../../../language-server/core/recipe/check';
import { tempDir } from '../model/helpers';

const HF = path.join(process.cwd(), 'test', 'fixtures', 'hf');

test('backtracking risk: the patterns of real tokenizers pass; nested repetition, repeated alternatives and back-references are refused', () => {
  const qwen = (JSON.parse(readFileSync(path.join(HF, 'qwen2-tied-fp32', 'tokenizer.json'), 'utf8')) as { pre_tokenizer: { pretokenizers: { pattern?: { Regex?: string } }[] } }).pre_tokenizer.pretokenizers[0]!.pattern!.Regex!;
  const gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  for (const p of [qwen, gpt2, llama3, '(?:\\r?\\n)+', '(ab)+', '[(]+)', '(a+)?', '[a+]*', 'x{', '\\u{1F600}+']) assert.equal(backtrackingRisk(p), undefined, p);
  for (const p of ['(a+)+$', '(.*)*_projx$', '(a|a)*', '(x)\\1', '(?<n>a)\\k<n>', '((a+))+', '((a+)b)+', '(a*){2,5}', '(a+){3,}']) assert.ok(backtrackingRisk(p), p);
});

test('a tokenizer.json with an exponential Split pattern is refused at once by the loader and the checker, naming the file', async () => {
  const dir = tempDir();
  const j = JSON.parse(readFileSync(path.join(HF, 'gpt2-fp32', 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, use_regex: false }] };
  const tok = path.join(dir, 'tokenizer.json');
  writeFileSync(tok, JSON.stringify(j));
  const t0 = performance.now();
  await assert.rejects(loadTokenizer(tok), (e: Error) => e.message.startsWith(tok) && /Split pattern "\(a\+\)\+\$" is refused: .*exponential/.test(e.message));
  writeFileSync(path.join(dir, 'c.txt'), `${'a'.repeat(40)}b\n`);
  const recipe = path.join(dir, 'r.qrecipe');
  writeFileSync(recipe, 'data calib { text "c.txt"  tokenizer "tokenizer.json" }\n');
  const { analysis } = await checkFile(recipe);
  const d = analysis.diagnostics.find((x) => /is refused/.test(x.message));
  assert.ok(d && d.severity === 'error', JSON.stringify(analysis.diagnostics.map((x) => x.message)));
  assert.ok(performance.now() - t0 < 2000);
});

test('a long line with nowhere to cut is cut anyway: cancellation points stay close on a line of 200,000 spaces; ordinary text keeps its natural cuts', async () => {
  const tok = await loadTokenizer(path.join(HF, 'gpt2-fp32', 'tokenizer.json'));
  assert.equal(tok.mode, 'newline');
  const text = `${' '.repeat(200_000)}x\n${'some words\n'.repeat(10_000)}`;
  const cuts = chunkBoundaries(text, 'newline', 16384);
  let prev = 0;
  for (const c of cuts) { assert.ok(c.at - prev <= 3 * 16384 + 1, `a chunk of ${c.at - prev}`); prev = c.at; }
  assert.ok(cuts.some((c) => c.forced) && cuts.some((c) => !c.forced));
  let last = performance.now();
  let longest = 0;
  let inLine = 0;
  const onProgress = (p: { done: number }) => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (p.done <= 200_001) inLine++;
  };
  const ids = await tok.encodeLong(text, { onProgress });
  assert.ok(ids.length > 20_000);
  // the line alone (about 4 s here, linear: a megabyte is 20 s) yields at least 4 times; no piece takes long
  assert.ok(inLine >= 4, `${inLine} cancellation points inside the line`);
  assert.ok(longest < 3000, `${longest.toFixed(0)} ms between two cancellation points`);
  // text with a newline every line: only natural cuts, the same ids as one encoding
  const lines = Array.from({ length: 3000 }, (_, k) => `line ${k} of ordinary text, with words.`).join('\n');
  assert.ok(chunkBoundaries(lines, 'newline', 16384).every((c) => !c.forced));
  assert.deepEqual(await tok.encodeLong(lines), tok.encode(lines));
});
