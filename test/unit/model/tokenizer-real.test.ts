// Real tokenizer.json files (Llama-2 SentencePiece BPE with byte fallback, Llama-3 and Qwen3
// byte-level BPE with their split regexes, the hf fixtures' tokenizers, a BERT-style WordPiece and
// a Metaspace BPE) encode test/fixtures/tokenizers/sample.txt to exactly the ids the Python
// `tokenizers` package gives (reference.json, made by make_reference.py), decode back to the text,
// and chunked encoding of a long text gives the ids of encoding it whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { loadTokenizer, encodeFile } from '../../../language-server/core/model/data/tokenizer';
import { CancelledError } from '../../../language-server/core/util/cancel';

const dir = path.resolve('test/fixtures/tokenizers');
const refFile = path.join(dir, 'reference.json');
const ref = existsSync(refFile)
  ? (JSON.parse(readFileSync(refFile, 'utf8')) as { text: string; tokenizers: Record<string, { file: string; ids: number[]; decodesToText: boolean }> })
  : undefined;
const text = readFileSync(path.join(dir, 'sample.txt'), 'utf8');
const calib = readFileSync(path.resolve('test/fixtures/tiny-lm/data/calib.txt'), 'utf8');

for (const [name, r] of Object.entries(ref?.tokenizers ?? {})) {
  const file = path.resolve(r.file);
  test(`tokenizer ${name}: ids equal the Python tokenizers' on ${text.length} characters; decode; chunked = whole`, { skip: existsSync(file) ? false : `${r.file} not installed` }, async () => {
    const tok = await loadTokenizer(file);
    const ids = tok.encode(text);
    assert.equal(ids.length, r.ids.length, `${name}: ${ids.length} tokens, Python gives ${r.ids.length}`);
    const first = ids.findIndex((id, i) => id !== r.ids[i]);
    assert.equal(first, -1, `${name}: first difference at token ${first}: ${ids.slice(first, first + 5).join(' ')} vs ${r.ids.slice(first, first + 5).join(' ')}`);
    assert.equal(tok.decode(ids) === text, r.decodesToText);
    // Every one of these tokenizers can be cut somewhere; small chunks cut it often.
    assert.notEqual(tok.mode, 'whole');
    const whole = tok.encode(calib);
    let reports = 0;
    const chunked = await tok.encodeLong(calib, { chunk: 512, onProgress: () => { reports++; } });
    assert.ok(reports > 10, `${reports} progress reports`); // man-page text: cuts are rarer where lines are indented
    assert.deepEqual(chunked, whole);
  });
}

test('reference ids exist for every tokenizer kind the issue names', { skip: ref ? false : 'reference.json missing' }, () => {
  for (const k of ['llama2', 'llama3', 'qwen3', 'wordpiece', 'metaspace', 'fixture-gpt2']) assert.ok(ref!.tokenizers[k]?.ids.length, k);
});

test('encodeFile caches by file version, honours cancellation, names an empty result', async () => {
  const file = path.resolve('test/fixtures/tokenizers/wordpiece/tokenizer.json');
  const data = path.resolve('test/fixtures/tiny-lm/data/calib.txt');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(encodeFile(file, data, { signal: ac.signal }), (e: Error) => e instanceof CancelledError);
  const a = await encodeFile(file, data);
  const b = await encodeFile(file, data);
  assert.equal(a, b);
  assert.equal(a.bytes, Buffer.byteLength(calib));
});
