// One way to print numbers and metrics everywhere: rounded ticks, compact numbers, the metric
// table's names and units, and run labels made of what differs between runs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatBytes, formatNumber, formatSeconds, formatTick, logTicks, niceTicks } from '../../../language-server/core/format/numbers';
import { formatMetric, formatMetricDelta, glanceMetrics, isBetter, metricInfo, orderedKeys } from '../../../language-server/core/format/metrics';
import { runLabels } from '../../../language-server/core/runs/labels';

test('ticks are round numbers that cover the range, and their labels have the decimals the step needs', () => {
  assert.deepEqual(niceTicks(2.4084, 2.8767, 5), [2.5, 2.6, 2.7, 2.8]);
  assert.deepEqual(niceTicks(0, 7.19, 5), [0, 2, 4, 6]);
  assert.deepEqual(niceTicks(1.37, 1.41, 5), [1.37, 1.38, 1.39, 1.4, 1.41]);
  for (const [lo, hi] of [[0.001, 0.0437], [12, 97013], [-3, 3], [2.4084123, 2.4084999]] as const) {
    const t = niceTicks(lo, hi, 5);
    assert.ok(t.length >= 2 && t.length <= 11, `${lo}..${hi}: ${t}`);
    assert.ok(t.every((v, i) => i === 0 || v > t[i - 1]!));
    assert.ok(t[0]! >= lo - 1e-12 && t.at(-1)! <= hi + 1e-12);
    const step = t[1]! - t[0]!;
    const m = step / 10 ** Math.floor(Math.log10(step));
    assert.ok([1, 2, 2.5, 5, 10].some((x) => Math.abs(m - x) < 1e-6), `step ${step} is 1, 2, 2.5 or 5 × 10^k`);
    for (const v of t) assert.ok(formatTick(v, step).length <= 8, formatTick(v, step));
  }
  assert.equal(formatTick(2.6000000000000005, 0.1), '2.6');
  assert.equal(formatTick(2.5, 0.5), '2.5');
  assert.equal(formatTick(2.44, 0.02), '2.44');
  assert.equal(formatTick(40, 20), '40');
  assert.deepEqual(logTicks(3e-5, 0.2), [1e-4, 1e-3, 1e-2, 1e-1]);
  assert.deepEqual(logTicks(17000, 410000), [20000, 50000, 100000, 200000], 'under three decades: 1, 2, 5 × 10^k');
  assert.deepEqual(logTicks(2.1, 4.9), [2.1, 4.9], 'nothing round inside: the ends');
});

test('numbers, sizes and durations print compactly; missing values print as a dash', () => {
  assert.equal(formatNumber(2.802667089), '2.803');
  assert.equal(formatNumber(65940.1), '65940');
  assert.equal(formatNumber(659401), '6.59e+5');
  assert.equal(formatNumber(null), '—');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatBytes(1474956), '1.41 MiB');
  assert.equal(formatBytes(-2048), '-2.0 KiB');
  assert.equal(formatSeconds(29.4), '29 s');
  assert.equal(formatSeconds(125), '2 min 5 s');
});

test('metrics have human names and units; changes say which way is better', () => {
  assert.equal(metricInfo('bitsPerWeight').label, 'bits per weight');
  assert.equal(metricInfo('sizeBytes').label, 'size');
  assert.equal(metricInfo('someNewMetric').label, 'some new metric');
  assert.equal(formatMetric('sizeBytes', 1474956), '1.41 MiB');
  assert.equal(formatMetric('accuracy', 0.9125), '91.25 %');
  assert.equal(formatMetric('bitsPerWeight', 4.5625), '4.56 bits');
  assert.equal(formatMetricDelta('perplexity', 0.0339), '+0.0339');
  assert.equal(formatMetricDelta('accuracy', -0.0125), '−1.25 pp');
  assert.equal(formatMetricDelta('sizeBytes', 1474956 - 7543692), '−5.79 MiB');
  assert.equal(isBetter('perplexity', 0.03), false);
  assert.equal(isBetter('accuracy', 0.01), true);
  assert.equal(isBetter('sizeBytes', -10), true);
  assert.deepEqual(orderedKeys(['sizeBytes', 'zeta', 'bitsPerWeight', 'perplexity', 'kl']), ['perplexity', 'kl', 'sizeBytes', 'bitsPerWeight', 'zeta']);
  assert.equal(glanceMetrics({ kl: 0.0012, perplexity: 2.8027, sizeBytes: 1474956, bitsPerWeight: 4.5625 }), 'ppl 2.803 · 1.41 MiB', 'short enough for the sidebar');
  assert.equal(glanceMetrics({ accuracy: 0.9125 }), 'acc 91.25 %');
});

const run = (id: string, settings: Record<string, string> | undefined, recipe = '/w/quickstart.qrecipe', t = '2026-12-07T18:20:53Z') => ({ id, recipePath: recipe, startedAt: t, settings });

test('run labels name the method and width, and what else differs; equal settings get their time', () => {
  const s = (bits: string, group: string, extra: Record<string, string> = {}) => ({ 'quantize.method': 'gptq', 'quantize.bits': bits, 'quantize.group': group, 'quantize.scheme': 'asym', ...extra });
  const l = runLabels([run('a', s('4b', 'g64')), run('b', s('3b', 'g64')), run('c', s('3b', 'g128')), run('d', s('3b', 'g128', { 'quantize.scheme': 'sym' }))]);
  assert.deepEqual([...l.values()], ['gptq 4b g64 asym', 'gptq 3b g64 asym', 'gptq 3b g128 asym', 'gptq 3b g128 sym']);
  const alone = runLabels([run('a', s('4b', 'g64'))]);
  assert.equal(alone.get('a'), 'gptq 4b', 'a lone run: its method and width');
  const twins = runLabels([run('a', s('4b', 'g64'), undefined, '2026-12-07T18:20:53Z'), run('b', s('4b', 'g64'), undefined, '2026-12-07T19:05:00Z')]);
  assert.notEqual(twins.get('a'), twins.get('b'));
  assert.match(twins.get('a')!, /^gptq 4b · Dec 7 \d\d:20$/);
  const old = runLabels([run('a', undefined)]);
  assert.match(old.get('a')!, /^Dec 7 \d\d:20$/, 'a run recorded before settings: its start time');
  const mixed = runLabels([run('a', s('4b', 'g64')), run('b', { 'prune.method': 'sparsegpt', 'prune.pattern': '2:4' }, '/w/sparse.qrecipe')], { withRecipe: true });
  assert.deepEqual([...mixed.values()], ['quickstart · gptq 4b', 'sparse · sparsegpt 2:4']);
});
