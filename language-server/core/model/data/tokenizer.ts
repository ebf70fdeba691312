/**
 * Tokenisation with a Hugging Face `tokenizer.json` whose model is BPE: GPT-2-style byte-level
 * BPE (ByteLevel pre-tokenizer) and SentencePiece-style BPE (Metaspace pre-tokenizer or
 * Prepend/Replace normalizers, `▁` for spaces, optional byte fallback `<0xNN>`). Encoding only, for
 * perplexity on text; added special tokens are not inserted.
 */
import { pushAll } from '../../util/arrays';
import path from 'node:path';
import { readBytes } from './text';
import { DataFileError } from './errors';

type Json = Record<string, unknown>;

/** GPT-2's reversible byte → printable character map. */
function byteToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return map;
}

// GPT-2's pre-tokenisation pattern (contractions, letters, numbers, other, whitespace).
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export class BpeTokenizer {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly bytes = byteToUnicode();
  private readonly byteLevel: boolean;
  private readonly useRegex: boolean;
  private readonly addPrefixSpace: boolean;
  private readonly metaspace: boolean;
  private readonly prependMeta: boolean;
  private readonly byteFallback: boolean;
  private readonly unk: number | undefined;

  constructor(readonly file: string, private readonly vocab: Map<string, number>, merges: [string, string][], json: Json) {
    merges.forEach(([a, b], k) => this.ranks.set(`${a} ${b}`, k));
    const model = json.model as Json;
    const pre = (json.pre_tokenizer ?? null) as Json | null;
    const pres = pre ? (pre.type === 'Sequence' ? (pre.pretokenizers as Json[]) : [pre]) : [];
    const norm = (json.normalizer ?? null) as Json | null;
    const norms = norm ? (norm.type === 'Sequence' ? (norm.normalizers as Json[]) : [norm]) : [];
    const bl = pres.find((p) => p.type === 'ByteLevel');
    this.byteLevel = !!bl;
    this.useRegex = bl ? bl.use_regex !== false : false;
    this.addPrefixSpace = bl ? bl.add_prefix_space === true : false;
    const ms = pres.find((p) => p.type === 'Metaspace');
    this.metaspace = !!ms || norms.some((n) => n.type === 'Replace');
    this.prependMeta = ms ? ms.prepend_scheme !== 'never' && ms.add_prefix_space !== false : norms.some((n) => n.type === 'Prepend');
    this.byteFallback = model.byte_fallback === true;
    const unkToken = model.unk_token as string | undefined;
    this.unk = unkToken ? vocab.get(unkToken) : undefined;
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  private bpe(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let parts = [...word];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const a = parts[best]!;
      const b = parts[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) { next.push(a + b); i++; } else next.push(parts[i]!);
      }
      parts = next;
    }
    const ids: number[] = [];
    for (const p of parts) {
      const id = this.vocab.get(p);
      if (id !== undefined) { ids.push(id); continue; }
      if (this.byteFallback) {
        for (const byte of new TextEncoder().encode(p)) {
          const bid = this.vocab.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
          if (bid === undefined) throw new DataFileError(this.file, `byte fallback token <0x${byte.toString(16)}> missing from the vocabulary`);
          ids.push(bid);
        }
      } else if (this.unk !== undefined) ids.push(this.unk);
      else throw new DataFileError(this.file, `'${p}' is not in the vocabulary and there is no unk token`);
    }
    if (this.cache.size < 100_000) this.cache.set(word, ids);
    return ids;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    if (this.byteLevel) {
      const src = this.addPrefixSpace && !text.startsWith(' ') ? ` ${text}` : text;
      const pieces = this.useRegex ? src.match(GPT2_SPLIT) ?? [] : [src];
      const enc = new TextEncoder();
      for (const piece of pieces) pushAll(out, this.bpe(Array.from(enc.encode(piece), (b) => this.bytes[b]!).join('')));
      return out;
    }
    if (this.metaspace) {
      const s = (this.prependMeta ? ' ' : '') + text;
      // Split before each ▁ so words stay separate BPE units (as the Metaspace split does).
      for (const w of s.replace(/ /g, '\u2581').split(/(?=\u2581)/u)) if (w) pushAll(out, this.bpe(w));
      return out;
    }
    return this.bpe(text);
  }
}

export async function loadTokenizer(file: string): Promise<BpeTokenizer> {
  const abs = path.resolve(file);
  let json: Json;
  try {
    json = JSON.parse(new TextDecoder().decode(await readBytes(abs))) as Json;
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    throw new DataFileError(abs, `not a JSON tokenizer file (${(err as Error).message})`);
  }
  const model = json.model as Json | undefined;
  if (!model || (model.type !== undefined && model.type !== 'BPE') || typeof model.vocab !== 'object') {
    throw new DataFileError(abs, `only BPE tokenizer.json models are supported (model.type = ${String(model?.type)})`);
  }
  const vocab = new Map(Object.entries(model.vocab as Record<string, number>));
  const merges = ((model.merges ?? []) as (string | [string, string])[]).map((m) => (typeof m === 'string' ? (m.split(' ', 2) as [string, string]) : m));
  return new BpeTokenizer(abs, vocab, merges, json);
}
