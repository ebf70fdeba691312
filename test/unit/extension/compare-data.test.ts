import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { compareData } from '../../../extension/src/panels/compare-data';
import type { RunRecord } from '../../../language-server/core/protocol/runner';

const base = (id: string, metrics: RunRecord['metrics']): RunRecord => ({
  id, status: 'succeeded', recipePath: `/w/${id}.qrecipe`, recipeText: '', recipeHash: '', modelPath: '/w/m.onnx', modelHash: '', dataHashes: {}, seed: 0,
  versions: { qrecipe: '0', onnxruntime: '0', node: '0' }, device: 'cpu', pid: 1, startedAt: '', stageSeconds: {}, metrics, layers: [], artifacts: { exports: [], log: 'run.log' },
});

test('compare data: one scatter point per run with size and quality, plus the original', () => {
  const d = compareData([
    base('a', { original: { perplexity: 2.4, sizeBytes: 100 }, compressed: { perplexity: 2.5, sizeBytes: 20 } }),
    base('b', { original: { perplexity: 2.4, sizeBytes: 100 }, compressed: { accuracy: 0.9 } }), // no size: not plotted
  ]);
  assert.deepEqual(d.points.map((p) => [p.runId, p.bytes, p.quality, p.qualityKey, p.lowerIsBetter]), [['a', 20, 2.5, 'perplexity', true], ['original', 100, 2.4, 'perplexity', true]]);
  assert.equal(d.labels.length, 2);
  assert.equal(d.comparison.runs.length, 2);
  // Survives the JSON trip a webview message makes (missing values become null, not a crash).
  const wire = JSON.parse(JSON.stringify(d));
  assert.equal(wire.comparison.metrics.find((m: { name: string }) => m.name === 'perplexity').values[1], null);
});

test('compare data: runs are labelled by what differs between them, not by time', () => {
  const withSettings = (id: string, bits: string, group: string): RunRecord => ({
    ...base(id, { original: { perplexity: 2.4, sizeBytes: 100 }, compressed: { perplexity: 2.5, sizeBytes: 20 } }),
    recipePath: '/w/quickstart.qrecipe', startedAt: `2026-12-07T18:0${id.length}:00Z`,
    settings: { 'quantize.method': 'gptq', 'quantize.bits': bits, 'quantize.group': group, 'quantize.scheme': 'asym' },
  });
  const d = compareData([withSettings('a', '4b', 'g64'), withSettings('bb', '3b', 'g64'), withSettings('ccc', '3b', 'g128')]);
  assert.deepEqual(d.labels, ['gptq 4b g64', 'gptq 3b g64', 'gptq 3b g128']);
  assert.deepEqual(d.points.map((p) => p.label), ['gptq 4b g64', 'gptq 3b g64', 'gptq 3b g128', 'original']);
});
