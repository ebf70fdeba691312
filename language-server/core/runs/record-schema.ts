/**
 * The schema of `run.json`, checked on every read: a record may have been written by an older or
 * newer QRecipe, edited by hand, truncated by a full disk or crafted by someone else, and one bad
 * record must never hide or break the others (issue 20, point 4). `validateRecord` says exactly
 * what is wrong (the field path and what it holds) or returns the record typed. Unknown fields are
 * allowed (newer writers); every field QRecipe reads is checked.
 */
import type { RunRecord } from '../protocol/runner';

type Check = (v: unknown, at: string) => string | undefined;

function what(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return v.length > 40 ? 'a long string' : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

const str: Check = (v, at) => (typeof v === 'string' ? undefined : `${at} is ${what(v)}, not a string`);
const num: Check = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `${at} is ${what(v)}, not a number`);
const bool: Check = (v, at) => (typeof v === 'boolean' ? undefined : `${at} is ${what(v)}, not true or false`);
const opt = (c: Check): Check => (v, at) => (v === undefined ? undefined : c(v, at));
const oneOf = (...values: string[]): Check => (v, at) => (typeof v === 'string' && values.includes(v) ? undefined : `${at} is ${what(v)}, not one of ${values.join(', ')}`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const join = (at: string, k: string): string => (at ? `${at}.${k}` : k);

function obj(shape: Record<string, Check>): Check {
  return (v, at) => {
    if (!isObject(v)) return `${at || 'the record'} is ${what(v)}, not an object`;
    for (const [k, c] of Object.entries(shape)) {
      const p = c(v[k], join(at, k));
      if (p) return p;
    }
    return undefined;
  };
}

function list(c: Check): Check {
  return (v, at) => {
    if (!Array.isArray(v)) return `${at} is ${what(v)}, not a list`;
    for (let i = 0; i < v.length; i++) {
      const p = c(v[i], `${at}[${i}]`);
      if (p) return p;
    }
    return undefined;
  };
}

function dict(c: Check): Check {
  return (v, at) => {
    if (!isObject(v)) return `${at} is ${what(v)}, not an object`;
    for (const [k, x] of Object.entries(v)) {
      const p = c(x, join(at, k));
      if (p) return p;
    }
    return undefined;
  };
}

/** A path inside the run folder: relative, no `..` (a record cannot point a reader elsewhere). */
const inRun: Check = (v, at) => {
  const p = str(v, at);
  if (p) return p;
  const s = v as string;
  return s.startsWith('/') || s.startsWith('\\') || /^[A-Za-z]:/.test(s) || s.split(/[\\/]/).includes('..') || s.includes('\0') ? `${at} (${JSON.stringify(s)}) is not a path inside the run folder` : undefined;
};

const time: Check = (v, at) => str(v, at) ?? (Number.isNaN(Date.parse(v as string)) ? `${at} is ${what(v)}, not a date and time` : undefined);
const pid: Check = (v, at) => (Number.isSafeInteger(v) && (v as number) > 0 ? undefined : `${at} is ${what(v)}, not a process id`);

const layer = obj({
  name: str, bits: opt(num), groupSize: opt(num), sparsity: opt(num), loss: opt(num), relError: opt(num),
  outlierFraction: opt(num), method: opt(str), device: opt(str), seconds: opt(num),
});

const exportRecord = obj({
  path: str, format: str, bytes: num, verified: opt(bool), quantizedBytes: opt(num), quantizedFloatBytes: opt(num), bitsPerWeight: opt(num),
  check: opt(obj({ metric: str, dataset: opt(str), exported: num, fakeQuant: num, relDiff: num, ok: bool })),
  layers: opt(list(obj({ name: str, encoding: str, bits: num, storedBits: opt(num), bytes: num }))),
  deployFiles: opt(list(str)),
});

const metrics = dict(num);

const recordCheck = obj({
  id: str, status: oneOf('running', 'succeeded', 'failed', 'cancelled'), recipePath: str, recipeText: str, recipeHash: str,
  modelPath: str, modelHash: str, dataHashes: dict(str), seed: num,
  versions: obj({ qrecipe: str, addon: opt(str), onnxruntime: str, node: str }),
  device: str, pid, pidStart: opt(str), startedAt: time, endedAt: opt(time),
  stageSeconds: dict(num),
  metrics: obj({ original: opt(metrics), compressed: opt(metrics), exported: opt(metrics) }),
  layers: list(layer),
  artifacts: obj({ compressedModel: opt(inRun), quant: opt(inRun), exports: list(exportRecord), log: inRun }),
  error: opt(str), warnings: opt(list(str)), settings: opt(dict(str)),
  finetune: opt(list(obj({
    stage: num, steps: num, seconds: num, before: num, after: num, measuredOn: opt(num), curve: list(list(num)), codesChanged: num, codeUnits: num, layers: num, tensors: num,
  }))),
});

/** The record, typed, or the first thing wrong with it (`metrics.compressed.perplexity is "x", not a number`). */
export function validateRecord(value: unknown): { record: RunRecord } | { problem: string } {
  const p = recordCheck(value, '');
  return p ? { problem: p } : { record: value as RunRecord };
}
