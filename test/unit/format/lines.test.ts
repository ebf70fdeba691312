// The NDJSON line splitter every reader of the runner's event stream uses.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { lineSplitter } from '../../../language-server/core/protocol/lines';

test('lines come whole whatever the chunking, trimmed, empty ones skipped, the last one on flush', () => {
  const text = '{"a":1}\n\n  {"b":2}\r\n{"c":3}';
  for (let cut = 0; cut <= text.length; cut++) {
    const got: string[] = [];
    const s = lineSplitter((l) => got.push(l));
    s.push(text.slice(0, cut));
    s.push(text.slice(cut));
    assert.deepEqual(got, ['{"a":1}', '{"b":2}'], `cut at ${cut}`);
    s.flush();
    assert.deepEqual(got, ['{"a":1}', '{"b":2}', '{"c":3}']);
    s.flush();
    assert.equal(got.length, 3, 'a second flush hands over nothing');
  }
  const one: string[] = [];
  const s = lineSplitter((l) => one.push(l));
  for (const ch of 'x\ny\n') s.push(ch);
  assert.deepEqual(one, ['x', 'y']);
});
