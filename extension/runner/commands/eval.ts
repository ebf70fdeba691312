// `qrecipe eval MODEL --data PATH --metric ...`: one evaluation metric of an ONNX model.
import { evaluateModel, METRICS, type Metric } from '../engine/evaluate/index';
import type { EvalResult } from '../engine/evaluate/result';
import { isProviderChoice, PROVIDER_CHOICES } from '../engine/evaluate/session';

const HELP = `usage: qrecipe eval MODEL --metric METRIC [--data PATH] [options]

metrics:
  perplexity  causal LM on a text file (byte-level or --tokenizer, non-overlapping windows of --seqlen)
  accuracy    top-1 accuracy: IDX images + --labels IDX labels, or a PNG folder (labels.tsv or class folders)
  cer         character error rate of a CTC text recogniser: folder with labels.tsv (file<TAB>text)
  kl          KL divergence and top-1 agreement with --reference MODEL on --data
  latency     median and p90 of --runs timed runs after --warmup (synthetic input)
  size        file size and bits per weight (--reference: divide by its parameter count)
options:
  --labels PATH  --seqlen N  --limit N  --batch N  --reference MODEL  --keys FILE
  --mean a,b,c  --std a,b,c  --runs N  --warmup N  --provider ${PROVIDER_CHOICES.join('|')} (native: a whole-model session runs as with auto)
  --tokenizer tokenizer.json (a Hugging Face tokenizer: BPE, WordPiece, Unigram; default byte-level)  --json`;

type Parsed = Record<string, string | boolean>;

function parse(args: string[]): { positional: string[]; flags: Parsed } {
  const positional: string[] = [];
  const flags: Parsed = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (k === 'json' || k === 'help') flags[k] = true;
    else if (inline !== undefined) flags[k] = inline;
    else if (i + 1 < args.length) flags[k] = args[++i]!;
    else throw new Error(`option --${k} needs a value`);
  }
  return { positional, flags };
}

const KNOWN = new Set(['tokenizer', 'json', 'help', 'metric', 'data', 'labels', 'seqlen', 'limit', 'batch', 'reference', 'keys', 'mean', 'std', 'runs', 'warmup', 'provider']);

function int(flags: Parsed, k: string): number | undefined {
  const v = flags[k];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} must be a positive integer, got '${String(v)}'`);
  return n;
}

function list(flags: Parsed, k: string): number[] | undefined {
  const v = flags[k];
  return typeof v === 'string' ? v.split(',').map(Number) : undefined;
}

export function formatResult(r: EvalResult): string {
  const fmt = (v: number | string): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : v);
  const lines = [`${r.metric}: ${fmt(r.value)}`];
  for (const [k, v] of Object.entries(r.details)) lines.push(`  ${k}: ${fmt(v)}`);
  if (r.throughput) lines.push(`  throughput: ${r.throughput.value.toFixed(1)} ${r.throughput.unit}`);
  if (r.provider) lines.push(`  provider: ${r.provider}${r.fallbacks?.length ? ` (not used: ${r.fallbacks.join('; ')})` : ''}`);
  lines.push(`  samples: ${r.samples}, ${r.seconds.toFixed(2)} s, peak RSS ${r.peakRssMB} MB`);
  return lines.join('\n');
}

export async function main(args: string[]): Promise<number> {
  const { positional, flags } = parse(args);
  if (flags.help) { console.log(HELP); return 0; }
  const unknown = Object.keys(flags).filter((k) => !KNOWN.has(k));
  if (unknown.length || positional.length !== 1 || typeof flags.metric !== 'string') {
    console.error(unknown.length ? `qrecipe eval: unknown option --${unknown[0]}\n\n${HELP}` : HELP);
    return 2;
  }
  const metric = flags.metric as Metric;
  if (!METRICS.includes(metric)) { console.error(`qrecipe eval: unknown metric '${metric}' (one of ${METRICS.join(', ')})`); return 2; }
  const str = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const provider = str('provider');
  if (provider !== undefined && !isProviderChoice(provider)) { console.error(`qrecipe eval: --provider must be ${PROVIDER_CHOICES.join(', ')}, not '${provider}'`); return 2; }
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const result = await evaluateModel({
    model: positional[0]!, metric, data: str('data'), labels: str('labels'), seqlen: int(flags, 'seqlen'), limit: int(flags, 'limit'),
    batch: int(flags, 'batch'), reference: str('reference'), keys: str('keys'), mean: list(flags, 'mean'), std: list(flags, 'std'),
    runs: int(flags, 'runs'), warmup: flags.warmup === '0' ? 0 : int(flags, 'warmup'),
    tokenizer: str('tokenizer'), provider: provider === 'native' ? 'auto' : provider, signal: ac.signal,
    onProgress: flags.json || !process.stderr.isTTY ? undefined : (p) => process.stderr.write(`\r${p.label ?? ''} ${p.done}/${p.total}   `),
  });
  if (!flags.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  console.log(flags.json ? JSON.stringify(result, null, 2) : formatResult(result));
  return 0;
}
