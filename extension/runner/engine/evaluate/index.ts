/**
 * One entry for every evaluation metric (what `qrecipe eval` and the runner call): opens the
 * model once, reads the data set the way the metric and the model's inputs need, and returns an
 * EvalResult.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { openSession } from './session';
import { describeIo } from './io';
import { evaluatePerplexity } from './perplexity';
import { evaluateAccuracy } from './accuracy';
import { evaluateCer } from './cer';
import { evaluateAgreement } from './agreement';
import { evaluateLatency } from './latency';
import { evaluateSize } from './size';
import { feedBatches, imageSamples, lmSeqlen } from './datasets';
import { textWindows } from './datasets';
import { listOcrLines, readCharList } from '../../../../language-server/core/model/data/ocr';
import type { EvalOptions, EvalResult } from './result';

export type Metric = EvalResult['metric'];
export const METRICS: Metric[] = ['perplexity', 'accuracy', 'cer', 'kl', 'latency', 'size'];

export interface EvalSpec extends Omit<EvalOptions, 'session'> {
  model: string;
  metric: Metric;
  data?: string;
  /** Label file (IDX labels, labels.tsv) when not found beside the data. */
  labels?: string;
  seqlen?: number;
  /** At most this many windows / images / lines. */
  limit?: number;
  batch?: number;
  reference?: string;
  mean?: number[];
  std?: number[];
  /** Character list of a CTC recogniser (default: ppocr_keys_v1.txt beside the model or the data). */
  keys?: string;
  runs?: number;
  warmup?: number;
  /** Hugging Face tokenizer.json for LM data (core/model/data/tokenizer.ts); default byte-level (token = UTF-8 byte). */
  tokenizer?: string;
}

function findKeys(spec: EvalSpec): string {
  if (spec.keys) return spec.keys;
  const places = [path.dirname(spec.model), spec.data ? path.resolve(spec.data) : '', spec.data ? path.dirname(path.resolve(spec.data)) : ''];
  for (const p of places) if (p && existsSync(path.join(p, 'ppocr_keys_v1.txt'))) return path.join(p, 'ppocr_keys_v1.txt');
  throw new Error(`${spec.model}: no character list found for CER: give --keys (e.g. ppocr_keys_v1.txt)`);
}

export async function evaluateModel(spec: EvalSpec): Promise<EvalResult> {
  const base: EvalOptions = { signal: spec.signal, onProgress: spec.onProgress, provider: spec.provider };
  if (spec.metric === 'size') return evaluateSize(spec.model, spec.reference);
  const needData = spec.metric !== 'latency';
  if (needData && !spec.data) throw new Error(`--data is needed for metric ${spec.metric}`);
  if (spec.metric === 'kl' && !spec.reference) throw new Error('--reference MODEL is needed for metric kl');
  if (spec.metric === 'kl') {
    const probe = await openSession(spec.model, { provider: 'cpu' });
    const io = describeIo(probe.session, spec.model);
    await probe.session.release();
    const { total, batches } = await feedBatches(spec.data!, io, spec.model, {
      labels: spec.labels, seqlen: spec.seqlen, maxWindows: spec.limit, limit: spec.limit,
      batch: spec.batch, mean: spec.mean, std: spec.std, tokenizer: spec.tokenizer,
    });
    return evaluateAgreement(spec.model, spec.reference!, batches, total, base);
  }
  const opened = await openSession(spec.model, { provider: spec.provider });
  try {
    const io = describeIo(opened.session, spec.model);
    const opts = { ...base, session: opened };
    switch (spec.metric) {
      case 'perplexity': {
        const { windows, bytesPerToken } = await textWindows(spec.data!, lmSeqlen(io, spec.seqlen), { maxWindows: spec.limit, signal: spec.signal }, spec.tokenizer);
        return await evaluatePerplexity(spec.model, windows, { ...opts, batch: spec.batch, bytesPerToken });
      }
      case 'accuracy': {
        const src = await imageSamples(spec.data!, io, spec.model, { labels: spec.labels, mean: spec.mean, std: spec.std, limit: spec.limit });
        return await evaluateAccuracy(spec.model, src, { ...opts, batch: spec.batch });
      }
      case 'cer': {
        const lines = await listOcrLines(spec.data!, spec.labels);
        if (spec.limit) { lines.files = lines.files.slice(0, spec.limit); lines.texts = lines.texts.slice(0, spec.limit); }
        const { texts: _texts, ...res } = await evaluateCer(spec.model, lines, await readCharList(findKeys(spec)), opts);
        return res;
      }
      case 'latency':
        return await evaluateLatency(spec.model, { ...opts, runs: spec.runs, warmup: spec.warmup, batch: spec.batch, seqlen: spec.seqlen });
      default:
        throw new Error(`unknown metric '${String(spec.metric)}' (one of ${METRICS.join(', ')})`);
    }
  } finally {
    await opened.session.release();
  }
}
