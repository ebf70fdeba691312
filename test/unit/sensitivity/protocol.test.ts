import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isFromWebview, isToWebview } from '../../../webviews/protocol';

test('sensitivity messages from the view are validated field by field', () => {
  assert.ok(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bits', bits: 3.5 }, pins: { a: 4 }, metric: 'hessian' }));
  assert.ok(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bytes', bytes: 1e6 }, pins: {}, metric: 'gradient' }));
  assert.equal(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bits' }, pins: {}, metric: 'hessian' }), false, 'budget without a value');
  assert.equal(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bits', bits: 3 }, pins: { a: 3.5 }, metric: 'hessian' }), false, 'fractional pin');
  assert.equal(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bits', bits: 3 }, pins: {}, metric: 'fisher' }), true, 'per-batch Fisher metric');
  assert.equal(isFromWebview({ type: 'sensitivity/solve', requestId: 3, budget: { kind: 'bits', bits: 3 }, pins: {}, metric: 'curvature' }), false, 'unknown metric');
  assert.ok(isFromWebview({ type: 'sensitivity/write-allocation', bits: { 'layers.0.q': 4 } }));
  assert.equal(isFromWebview({ type: 'sensitivity/write-allocation', bits: {} }), false, 'nothing to write');
  assert.equal(isFromWebview({ type: 'sensitivity/reveal-layer' }), false);
  assert.ok(isFromWebview({ type: 'sensitivity/recompute' }));
  assert.equal(isFromWebview({ type: 'sensitivity/recompute', metric: 'x' }), false);
  assert.ok(isFromWebview({ type: 'sensitivity/spade', sample: 'abc' }));
  assert.equal(isFromWebview({ type: 'sensitivity/request', requestId: 1, body: {} }), false, 'the placeholder is gone');
});

test('sensitivity messages to the view are validated', () => {
  const allocation = { bits: [4, 3], bytes: 10, averageBits: 3.5, predicted: 1, feasible: true, exact: true, lowerBound: 1 };
  assert.ok(isToWebview({ type: 'sensitivity/solved', inReplyTo: 1, allocation }));
  assert.equal(isToWebview({ type: 'sensitivity/solved', inReplyTo: 1, allocation: { ...allocation, bits: 'x' } }), false);
  assert.ok(isToWebview({ type: 'sensitivity/status', state: 'computing', message: 'x' }));
  assert.equal(isToWebview({ type: 'sensitivity/status', state: 'busy', message: 'x' }), false);
  const layer = { name: 'a', candidates: [2, 4], bytes: [{}, {}], scores: {} };
  const data = { result: { layers: [layer] }, frontier: { bytes: [], bits: [] }, ranges: {}, spade: [] };
  assert.ok(isToWebview({ type: 'sensitivity/data', data }));
  assert.equal(isToWebview({ type: 'sensitivity/data', data: { ...data, result: { layers: [{ ...layer, bytes: [{}] }] } } }), false, 'bytes per candidate');
});
