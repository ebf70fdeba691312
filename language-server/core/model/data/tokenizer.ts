/**
 * Hugging Face `tokenizer.json` files through `@huggingface/tokenizers` (the maintained pure JS
 * implementation of the `tokenizers` pipeline: normalizers, pre-tokenizers with split regexes,
 * BPE with byte fallback, WordPiece, Unigram; token ids checked equal to the Python package's in
 * test/unit/model/tokenizer-real.test.ts). Text is encoded without special tokens (perplexity and
 * calibration windows of the text itself).
 *
 * Long texts are encoded in chunks, yielding between them (progress, cancellation), cut only where
 * the pipeline provably cannot join tokens across the cut (`chunkMode`), except in text with no such
 * place for a long stretch (`FORCED_CUT_CHARS`). Patterns a backtracking engine could take
 * exponential time on are refused (`util/backtracking.ts`). Loaded tokenizers and the ids of a text are cached per file, size and mtime.
 */
import path from 'node:path';
import { statSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { readBytes } from './text';
import { DataFileError } from './errors';
import { backtrackingRisk } from '../../util/backtracking';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../util/cancel';

type Json = Record<string, unknown>;

/** What a tokenizer.json is, read without building it (the checker's validation). */
export interface TokenizerFacts {
  /** Model type: BPE, WordPiece, Unigram, WordLevel. */
  model: string;
  /** Number of distinct token ids (vocabulary and added tokens). */
  vocabSize: number;
  /** Largest token id: the model's embedding must have more rows. */
  maxId: number;
  /** One line for hovers and logs, e.g. "BPE, 32,000 tokens, byte fallback, ▁ for spaces". */
  summary: string;
}

const SUPPORTED_MODELS = new Set(['BPE', 'WordPiece', 'Unigram']);
const UNSUPPORTED_SPLITS = new Set(['MergedWithPrevious', 'MergedWithNext', 'Contiguous']);

function list(x: unknown, key: string): Json[] {
  if (!x || typeof x !== 'object') return [];
  const o = x as Json;
  return o.type === 'Sequence' ? ((o[key] as Json[] | undefined) ?? []).flatMap((y) => list(y, key)) : [o];
}

/** Validates a parsed tokenizer.json; throws DataFileError naming the file and the problem. */
export function tokenizerFacts(json: unknown, file: string): TokenizerFacts {
  if (!json || typeof json !== 'object') throw new DataFileError(file, 'not a tokenizer.json (no JSON object)');
  const j = json as Json;
  const model = j.model as Json | undefined;
  if (!model || typeof model !== 'object') throw new DataFileError(file, 'not a tokenizer.json (no "model")');
  // Old files omit model.type; infer it as the Rust crate does.
  const type = (model.type as string | undefined) ?? (model.merges ? 'BPE' : Array.isArray(model.vocab) ? 'Unigram' : model.continuing_subword_prefix !== undefined ? 'WordPiece' : 'WordLevel');
  if (!SUPPORTED_MODELS.has(type)) throw new DataFileError(file, `tokenizer model '${type}' is not supported (BPE, WordPiece, Unigram are)`);
  const ids = new Set<number>();
  if (Array.isArray(model.vocab)) {
    (model.vocab as unknown[]).forEach((_, i) => ids.add(i));
  } else if (model.vocab && typeof model.vocab === 'object') {
    for (const v of Object.values(model.vocab as Record<string, unknown>)) if (typeof v === 'number') ids.add(v);
  } else {
    throw new DataFileError(file, 'the tokenizer has no vocabulary (model.vocab)');
  }
  for (const a of (j.added_tokens as { id?: unknown }[] | undefined) ?? []) if (typeof a.id === 'number') ids.add(a.id);
  if (!ids.size) throw new DataFileError(file, 'the tokenizer\'s vocabulary is empty');
  for (const p of list(j.pre_tokenizer, 'pretokenizers')) {
    if (p.type === 'Split' && UNSUPPORTED_SPLITS.has(String(p.behavior))) throw new DataFileError(file, `pre-tokenizer Split with behavior '${String(p.behavior)}' is not supported by the JavaScript tokenizers`);
  }
  // the library runs these on JavaScript's backtracking RegExp, which no limit or cancel can stop
  for (const x of [...list(j.pre_tokenizer, 'pretokenizers'), ...list(j.normalizer, 'normalizers')]) {
    const re = (x.pattern as { Regex?: unknown } | undefined)?.Regex;
    const risk = typeof re === 'string' ? backtrackingRisk(re) : undefined;
    if (risk) throw new DataFileError(file, `the ${String(x.type)} pattern ${JSON.stringify(String(re).slice(0, 60))} is refused: ${risk}`);
  }
  let maxId = 0;
  for (const i of ids) if (i > maxId) maxId = i;
  const norms = list(j.normalizer, 'normalizers').map((n) => String(n.type));
  const pres = list(j.pre_tokenizer, 'pretokenizers');
  const traits = [
    model.byte_fallback === true ? 'byte fallback' : '',
    pres.some((p) => p.type === 'ByteLevel') ? 'byte-level' : '',
    pres.some((p) => p.type === 'Split') ? 'split regex' : '',
    pres.some((p) => p.type === 'Metaspace') || norms.includes('Prepend') ? '▁ for spaces' : '',
    norms.includes('Lowercase') || (list(j.normalizer, 'normalizers').some((n) => n.type === 'BertNormalizer' && n.lowercase !== false)) ? 'lowercased' : '',
  ].filter((s) => s);
  return { model: type, vocabSize: ids.size, maxId, summary: [type, `${ids.size.toLocaleString('en-US')} tokens`, ...traits].join(', ') };
}

/** How a long text may be cut into independently encoded chunks (see `chunkBoundaries`). */
export type ChunkMode = 'newline' | 'space' | 'whole';

/**
 * `newline`: nothing prepends a prefix to the text, so a cut after "\n" before a non-space
 * character is a pre-tokenizer split for every pattern in use (ByteLevel/GPT-2, Llama-3 and Qwen2
 * regexes, BERT, Whitespace) and the pieces encode alike. `space`: SentencePiece style (a `▁`
 * prepended, spaces become `▁`, no `▁` inside a token after another character): cutting before a
 * single space between two non-space characters and encoding the rest without that space gives the
 * same `▁word` start and no token can span the cut. `whole`: anything else.
 */
export function chunkMode(json: Json): ChunkMode {
  const norms = list(json.normalizer, 'normalizers');
  const pres = list(json.pre_tokenizer, 'pretokenizers');
  const prepends = norms.some((n) => n.type === 'Prepend')
    || pres.some((p) => p.type === 'Metaspace' && (p.prepend_scheme !== undefined ? p.prepend_scheme !== 'never' : p.add_prefix_space !== false));
  if (pres.some((p) => p.type === 'ByteLevel' && p.add_prefix_space === true)) return 'whole';
  if (!prepends) return 'newline';
  const model = json.model as Json;
  const vocab = Array.isArray(model.vocab) ? (model.vocab as [string, number][]).map((v) => v[0]) : Object.keys((model.vocab ?? {}) as Json);
  const inner = vocab.some((t) => /[^\u2581]\u2581/u.test(t));
  return inner ? 'whole' : 'space';
}

/**
 * Text with no place `mode` allows a cut for `FORCED_CUT_CHARS` characters is cut there anyway (after
 * its last line break when it has one): a 1 MB line of spaces (or any text without a boundary) would
 * otherwise go to the library whole, with no cancellation point for as long as it takes (about
 * 20 µs a character with GPT-2's pattern here: 20 s for a megabyte; a piece of 49,152 about 1 s). Only such
 * text is affected (ordinary text has a boundary every few lines): its tokens next to a forced cut
 * may differ from an encoding of the whole. A `whole` pipeline is never cut.
 */
const FORCED_CUT_CHARS = 3 * 16384;

/** A place where a long text is cut into chunks; `forced` when `mode` did not allow one nearby. */
export interface ChunkCut { at: number; forced: boolean }

/** Start offsets (after the first) of chunks of about `size` characters, cut as `mode` allows. */
export function chunkBoundaries(text: string, mode: ChunkMode, size: number): ChunkCut[] {
  const out: ChunkCut[] = [];
  // no cut is known to keep the tokens of such a pipeline: encoded whole (exact), forced cuts too would change them
  if (mode === 'whole') return out;
  const ws = (c: string | undefined): boolean => c === undefined || /\s/u.test(c);
  let start = 0;
  let at = size;
  while (at < text.length) {
    const limit = Math.min(text.length, start + Math.max(FORCED_CUT_CHARS, 2 * size));
    let i = at;
    if (mode === 'newline') {
      while (i < limit && !(text[i - 1] === '\n' && !ws(text[i]))) i++;
    } else {
      while (i < limit && !(text[i] === ' ' && !ws(text[i - 1]) && !ws(text[i + 1]))) i++;
    }
    if (i >= text.length) break;
    const forced = i >= limit;
    if (forced) {
      const nl = text.lastIndexOf('\n', limit - 1);
      if (nl > start) i = nl + 1;
      // a forced cut never splits a UTF-16 surrogate pair
      else if (/[\uDC00-\uDFFF]/.test(text[i]!)) i++;
    }
    out.push({ at: i, forced });
    start = i;
    at = i + size;
  }
  return out;
}

export class TextTokenizer {
  private readonly tok: Tokenizer;
  readonly mode: ChunkMode;
  readonly facts: TokenizerFacts;

  constructor(readonly file: string, json: Json, config: Json) {
    this.facts = tokenizerFacts(json, file);
    try {
      // Hand-written files may omit the keys the Rust crate defaults to null; the JS one needs them.
      const full = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
      this.tok = new Tokenizer(full, config);
    } catch (err) {
      throw new DataFileError(file, `the tokenizer cannot be built (${(err as Error).message})`);
    }
    this.mode = chunkMode(json);
  }

  get vocabSize(): number {
    return this.facts.vocabSize;
  }

  /** Token ids of `text`, no special tokens added. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of token ids, as the Python `tokenizers` decodes (no clean-up of spaces). */
  decode(ids: number[]): string {
    return this.tok.decode(ids, { clean_up_tokenization_spaces: false });
  }

  /** `encode` in chunks of about `chunk` characters with progress and cancellation between them. */
  async encodeLong(text: string, opts: LongRunOptions & { chunk?: number } = {}): Promise<number[]> {
    const cuts = chunkBoundaries(text, this.mode, opts.chunk ?? 16384);
    const starts: ChunkCut[] = [{ at: 0, forced: true }, ...cuts];
    const out: number[] = [];
    for (const [k, { at: s, forced }] of starts.entries()) {
      throwIfAborted(opts.signal, 'tokenisation');
      const e = k + 1 < starts.length ? starts[k + 1]!.at : text.length;
      // `space` cuts sit on a space that the next chunk's prepended ▁ stands for.
      const piece = this.mode === 'space' && !forced ? text.slice(s + 1, e) : text.slice(s, e);
      for (const id of this.encode(piece)) out.push(id);
      opts.onProgress?.({ done: e, total: text.length, label: 'characters tokenised' });
      if (k + 1 < starts.length) await yieldToLoop();
    }
    return out;
  }
}

const facts = new Map<string, Promise<TokenizerFacts>>();

/**
 * Validates a tokenizer.json without building it (the checker's call; cached per file version):
 * readable JSON, a supported model and pipeline, its vocabulary size and largest id.
 */
export function readTokenizerFacts(file: string): Promise<TokenizerFacts> {
  const abs = path.resolve(file);
  const key = fileKey(abs);
  let p = facts.get(key);
  if (!p) {
    p = readJson(abs, false).then((j) => tokenizerFacts(j, abs));
    if (facts.size >= 16) facts.delete(facts.keys().next().value!);
    facts.set(key, p);
    p.catch(() => facts.delete(key));
  }
  return p;
}

const loaded = new Map<string, Promise<TextTokenizer>>();

function fileKey(abs: string): string {
  try {
    const s = statSync(abs);
    return `${abs}\0${s.size}\0${s.mtimeMs}`;
  } catch {
    return abs;
  }
}

async function readJson(file: string, optional: boolean): Promise<Json | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(file);
  } catch (err) {
    if (optional) return undefined;
    throw err;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as Json;
  } catch (err) {
    throw new DataFileError(path.resolve(file), `not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Loads a tokenizer.json (and the tokenizer_config.json beside it, when there is one); throws
 * DataFileError naming the file for a missing, malformed or unsupported tokenizer.
 */
export function loadTokenizer(file: string): Promise<TextTokenizer> {
  const abs = path.resolve(file);
  const key = fileKey(abs);
  let p = loaded.get(key);
  if (!p) {
    p = (async () => {
      const json = (await readJson(abs, false))!;
      const config = (await readJson(path.join(path.dirname(abs), 'tokenizer_config.json'), true)) ?? {};
      return new TextTokenizer(abs, json, config);
    })();
    if (loaded.size >= 4) loaded.delete(loaded.keys().next().value!);
    loaded.set(key, p);
    p.catch(() => loaded.delete(key));
  }
  return p;
}

const encoded = new Map<string, Promise<{ ids: Int32Array; bytes: number }>>();

/** The token ids of a text file (cached per tokenizer and text file version, 4 bytes an id). */
export function encodeFile(tokenizer: string, text: string, opts: LongRunOptions = {}): Promise<{ ids: Int32Array; bytes: number }> {
  const key = `${fileKey(path.resolve(tokenizer))}\0${fileKey(path.resolve(text))}`;
  let p = encoded.get(key);
  if (!p) {
    p = (async () => {
      const tok = await loadTokenizer(tokenizer);
      const bytes = await readBytes(text);
      const ids = await tok.encodeLong(new TextDecoder().decode(bytes), opts);
      if (!ids.length) throw new DataFileError(path.resolve(text), `the tokenizer ${tok.file} gives no tokens for this text`);
      return { ids: Int32Array.from(ids), bytes: bytes.length };
    })();
    if (encoded.size >= 4) encoded.delete(encoded.keys().next().value!);
    encoded.set(key, p);
    p.catch(() => encoded.delete(key));
  }
  return p;
}
