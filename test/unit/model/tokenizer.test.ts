import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadTokenizer } from '../../../language-server/core/model/data/tokenizer';
import { textWindows } from '../../../extension/runner/engine/evaluate/datasets';
import { tempDir } from './helpers';

/** GPT-2's byte → character map, written out independently of the implementation. */
function gpt2Chars(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + n++));
}

test('byte-level BPE (GPT-2 style) applies merges by rank within pre-tokenized words', async () => {
  const dir = tempDir();
  const chars = gpt2Chars();
  const vocab: Record<string, number> = Object.fromEntries(chars.map((c, b) => [c, b]));
  Object.assign(vocab, { he: 256, ll: 257, hell: 258, '\u0120w': 259 });
  const file = path.join(dir, 'tokenizer.json');
  writeFileSync(file, JSON.stringify({
    model: { type: 'BPE', vocab, merges: ['h e', 'l l', 'he ll', '\u0120 w'] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
  }));
  const tok = await loadTokenizer(file);
  assert.equal(chars[32], '\u0120');
  assert.deepEqual(tok.encode('hello world'), [258, 111, 259, 111, 114, 108, 100]);
  const text = path.join(dir, 'text.txt');
  writeFileSync(text, 'hello world hello world');
  const { windows, bytesPerToken } = await textWindows(text, 4, {}, file);
  assert.equal(windows.length, 3); // 2 + 5 + 3 (" hello" = Ġ hell o) + 5 = 15 tokens → 3 windows of 4
  assert.ok(Math.abs(bytesPerToken - 23 / 15) < 1e-12);
});

test('SentencePiece-style BPE with ▁ and byte fallback; unsupported files are refused by name', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'sp.json');
  writeFileSync(file, JSON.stringify({
    model: { type: 'BPE', byte_fallback: true, vocab: { '\u2581': 0, a: 1, b: 2, '\u2581a': 3, ab: 4, '<0xC3>': 5, '<0xA9>': 6, '\u2581ab': 7 }, merges: [['\u2581', 'a'], ['a', 'b'], ['\u2581a', 'b']] },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first' },
  }));
  const tok = await loadTokenizer(file);
  assert.deepEqual(tok.encode('ab é'), [7, 0, 5, 6]);
  const wl = path.join(dir, 'wl.json');
  writeFileSync(wl, JSON.stringify({ model: { type: 'WordLevel', vocab: { a: 0 } } }));
  await assert.rejects(loadTokenizer(wl), (e: Error) => e.message.startsWith(wl) && /'WordLevel' is not supported/.test(e.message));
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{ "model": ');
  await assert.rejects(loadTokenizer(bad), (e: Error) => e.message.startsWith(bad) && /not valid JSON/.test(e.message));
  const missing = path.join(dir, 'missing.json');
  await assert.rejects(loadTokenizer(missing), (e: Error) => e.message.startsWith(missing) && /cannot read/.test(e.message));
  const merged = path.join(dir, 'merged.json');
  writeFileSync(merged, JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithNext' } }));
  await assert.rejects(loadTokenizer(merged), (e: Error) => e.message.startsWith(merged) && /MergedWithNext/.test(e.message));
});
