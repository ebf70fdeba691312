import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { paretoFront } from '../../../webviews/compare/pareto';
import { isFromWebview, isToWebview } from '../../../webviews/protocol';

test('pareto front keeps exactly the non-dominated points (checked against a brute-force definition)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 200; trial++) {
    const pts = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => ({ x: Math.floor(rnd() * 6), y: Math.floor(rnd() * 6) }));
    const dominated = (i: number) => pts.some((q, j) => j !== i && q.x <= pts[i].x && q.y <= pts[i].y && (q.x < pts[i].x || q.y < pts[i].y));
    const expected = pts.map((_, i) => i).filter((i) => !dominated(i));
    const got = paretoFront(pts);
    // Duplicates of a front point: the front keeps one representative.
    const key = (i: number) => `${pts[i].x},${pts[i].y}`;
    assert.deepEqual([...new Set(got.map(key))].sort(), [...new Set(expected.map(key))].sort());
  }
});

test('protocol validation rejects malformed messages on both sides', () => {
  assert.ok(isFromWebview({ type: 'ready' }));
  assert.ok(isFromWebview({ type: 'compare/open-recipe-diff', runIds: ['a', 'b'] }));
  assert.ok(!isFromWebview({ type: 'compare/open-recipe-diff', runIds: ['a'] }));
  assert.ok(!isFromWebview({ type: 'compare/reveal-run' }));
  assert.ok(!isFromWebview({ type: 'nope' }));
  assert.ok(!isFromWebview(null));
  assert.ok(!isToWebview({ type: 'ready' }));
  // the dead types are gone: a message nobody sends is not accepted either
  for (const type of ['theme-changed', 'reply']) assert.ok(!isToWebview({ type, inReplyTo: 1, ok: true }), type);
  assert.ok(isToWebview({ type: 'sensitivity/status', state: 'computing', message: 'm', progress: { done: 3, total: 28, label: 'layer x', etaSeconds: 4 } }));
  assert.ok(!isToWebview({ type: 'sensitivity/status', state: 'computing', message: 'm', progress: { done: '3', total: 28 } }));
  assert.ok(isFromWebview({ type: 'sensitivity/cancel' }));
  // compare data is checked, not trusted: a point without its quality key is refused
  const data = { comparison: { runs: [], metrics: [], layers: [], recipeDiff: [] }, labels: ['a'], points: [{ runId: 'r', label: 'a', bytes: 1, quality: 2, qualityKey: 'perplexity', lowerIsBetter: true }] };
  assert.ok(isToWebview({ type: 'compare/data', data }));
  assert.ok(!isToWebview({ type: 'compare/data', data: { ...data, points: [{ runId: 'r', label: 'a', bytes: 1, quality: 2 }] } }));
  assert.ok(!isToWebview({ type: 'compare/data', data: { ...data, labels: undefined } }));
});
