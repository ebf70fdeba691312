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

test('compare data: a run with a finetune stage brings its loss curve, validated as a webview message', async () => {
  const { isToWebview } = await import('../../../webviews/protocol');
  const tuned: RunRecord = {
    ...base('t', { compressed: { perplexity: 2.7 } }),
    finetune: [{
      stage: 1, steps: 3, seconds: 1, before: 0.2, after: 0.1, curve: [[1, 0.2, 5], [2, 0.15, 3], [3, 0.1, 0]], codesChanged: 8, codeUnits: 100, layers: 2, tensors: 1,
    }],
  };
  const d = compareData([base('p', { compressed: { perplexity: 2.8 } }), tuned]);
  assert.deepEqual(d.curves, [{ runId: 't', label: d.labels[1], points: [[1, 0.2], [2, 0.15], [3, 0.1]] }]);
  assert.ok(isToWebview({ type: 'compare/data', data: JSON.parse(JSON.stringify(d)) }));
  assert.ok(!isToWebview({ type: 'compare/data', data: { ...d, curves: [{ runId: 't', label: 'x', points: [[1]] }] } }), 'a malformed curve is refused');
  assert.equal(compareData([base('p', {})]).curves, undefined);
});

test('compare data: a metric on two data sets is two rows (`cer on tune`, `cer on heldout`); a record without data sets keeps its plain row', async () => {
  const { metricInfo } = await import('../../../language-server/core/format/metrics');
  const both = base('n', {
    original: { cer: 0.05, 'cer@tune': 0.05, 'cer@heldout': 0.036, sizeBytes: 100 },
    compressed: { cer: 0.07, 'cer@tune': 0.07, 'cer@heldout': 0.062, sizeBytes: 20 },
  });
  const d = compareData([both, base('old', { original: { cer: 0.036 }, compressed: { cer: 0.1 } })]);
  const rows = d.comparison.metrics.map((m) => [m.name, m.values[0], m.values[1]]);
  assert.deepEqual(rows, [['cer', 0.07, 0.1], ['cer@tune', 0.07, undefined], ['cer@heldout', 0.062, undefined], ['sizeBytes', 20, undefined]]);
  assert.deepEqual(d.comparison.metrics.map((m) => metricInfo(m.name).label).slice(1, 3), ['character error rate on tune', 'character error rate on heldout']);
  assert.equal(d.comparison.metrics[2]!.original, 0.036);
  // new records alone: no headline duplicate
  assert.deepEqual(compareData([both]).comparison.metrics.map((m) => m.name), ['cer@tune', 'cer@heldout', 'sizeBytes']);
  // the scatter uses the headline (first data set)
  assert.equal(d.points.find((p) => p.runId === 'n')?.quality, 0.07);
});
