/**
 * `data` sets: one source each, the keys that apply to it, the files it reads (checked to exist),
 * resolved into the recipe's data sets; and the references to them from stages and metrics.
 */
import path from 'node:path';

import { didYouMean } from '../diagnostics';
import { MAX_NAMES_LISTED } from '../../util/limits';
import { maxOf } from '../../util/arrays';
import type { DocNamed, Val } from '../lower';
import type { DatasetSource, ResolvedDataset } from '../resolved';
import type { ModelInventory } from '../../model/types';
import type { Checker } from './context';
import type { Merged } from './imports';
import { defaultOf } from './params';

const SOURCES = ['text', 'images', 'idx', 'ocr'] as const;

/** Checks every data set of `m` and adds the usable ones to the resolved recipe. */
export function checkDatasets(c: Checker, m: Merged): void {
  for (const d of m.data) {
    const k = d.keys;
    const srcs = SOURCES.filter((s) => k.has(s));
    if (!srcs.length) {
      c.rep(d.nameLoc, 'QR113', `Data set \`${d.name}\` has no source: add one of ` +
        '`text "file.txt"`, `images "folder"`, `idx "images.gz"`, `ocr "folder"`.');
    }
    for (const s of srcs.slice(1)) {
      c.rep(k.get(s)!.entry, 'QR114',
        `Data set \`${d.name}\` already reads \`${srcs[0]}\`: a data set has one source. Declare another data set.`);
    }
    const src = srcs[0];
    if (src && src !== 'text') {
      for (const t of ['tokenizer', 'seqlen']) {
        if (k.has(t)) c.rep(k.get(t)!.entry, 'QR114', `\`${t}\` applies to text data sets only; \`${d.name}\` reads ${src}.`);
      }
    }
    if (src === 'idx' && !k.has('labels')) {
      c.rep(k.get('idx')!.entry, 'QR113', 'IDX images need their labels: add `labels "…-labels-idx1-ubyte.gz"`.');
    }
    if ((src === 'text' || src === 'images') && k.has('labels')) {
      const how = src === 'images' ? 'take labels from sub-folder names' : 'need none';
      c.rep(k.get('labels')!.entry, 'QR114', `\`labels\` applies to idx and ocr data sets; ${src} data sets ${how}.`);
    }
    for (const s of [...srcs, 'labels']) c.mustExist(k.get(s) as Val<string> | undefined, s === 'labels' ? 'Labels file' : 'Data');
    const tok = k.get('tokenizer');
    if (tok && typeof tok.value === 'object') {
      const tv = { ...tok, value: (tok.value as { path: string }).path };
      c.mustExist(tv, 'Tokenizer');
      // A tokenizer that exists is read and validated; its largest id is checked against the model later.
      if (c.host.tokenizer) {
        const host = c.host;
        c.fileChecks.push(host.exists(tv.value).then(async (ok) => {
          if (!ok) return;
          const r = await host.tokenizer!(tv.value);
          if (r instanceof Error) c.rep(tv.loc, 'QR120', `This tokenizer cannot be used: ${r.message}`);
          else c.tokenizers.push({ dataset: d.name, facts: r, at: tv });
        }));
      }
    }
    if (src === 'ocr' && !k.has('labels')) {
      const ov = k.get('ocr')!;
      const lbl = path.join(ov.value as string, 'labels.tsv');
      c.fileChecks.push(c.host.exists(lbl).then((ok) => {
        if (ok) return;
        c.rep(ov.loc, 'QR116', `No labels.tsv in ${ov.value as string}: add one (file<TAB>text per line) or name it with \`labels\`.`);
      }));
    }
    if (!src) continue;
    const p = k.get(src)!.value as string;
    const labels = (k.get('labels')?.value as string | undefined) ?? (src === 'ocr' ? path.join(p, 'labels.tsv') : '');
    const tokenizer = (tok?.value as 'byte' | { path: string } | undefined) ?? defaultOf<'byte'>('data', 'tokenizer');
    const source: DatasetSource = src === 'text' ? { kind: 'text', path: p, tokenizer }
      : src === 'images' ? { kind: 'images', path: p } : { kind: src, path: p, labels };
    const get = (name: string): number => (k.get(name)?.value as number | undefined) ?? defaultOf<number>('data', name);
    const ds: ResolvedDataset = {
      name: d.name, source, samples: get('samples'), seqlen: get('seqlen'), seed: get('seed'), range: c.range(d.loc),
    };
    c.result.recipe.datasets.push(ds);
  }
}

/** References to data sets by name, from stages (`on NAME`) and metrics. */
export class DataRefs {
  private readonly byName = new Map<string, DocNamed>();
  private kinds?: Map<string, string>;
  constructor(private readonly c: Checker, private readonly m: Merged) {
    for (const d of m.data) if (!this.byName.has(d.name)) this.byName.set(d.name, d);
  }

  /** The source kind of data set `name` ('text', 'images', ...), if it resolved. */
  kind(name: string): string | undefined {
    if (!this.kinds) {
      this.kinds = new Map();
      for (const d of this.c.result.recipe.datasets) if (!this.kinds.has(d.name)) this.kinds.set(d.name, d.source.kind);
    }
    return this.kinds.get(name);
  }

  /** Whether `v` names a data set (recorded for go to definition); QR112 with a near name when not. */
  ref(v: Val<string>): boolean {
    const { c, m } = this;
    const d = this.byName.get(v.value);
    if (d) {
      c.refer(v, c.range(d.nameLoc));
      return true;
    }
    const names = m.data.map((x) => x.name);
    const dm = didYouMean(v.value, names);
    const listed = names.slice(0, MAX_NAMES_LISTED).join(', ') + (names.length > MAX_NAMES_LISTED ? `, ... (${names.length})` : '');
    const message = !m.data.length
      ? `No data set named \`${v.value}\`: declare it with \`data ${v.value} { text "file.txt" }\`.`
      : `No data set named \`${v.value}\`${dm ? `: did you mean \`${dm}\`?` : `. Data sets: ${listed}.`}`;
    c.rep(v.loc, 'QR112', message, dm ? [{ title: `Change to ${dm}`, start: v.loc.start, end: v.loc.end, text: dm }] : undefined);
    return false;
  }
}

/**
 * QR121: a data set's tokenizer produces ids the model has no embedding row for (the largest
 * embedding table, `Gather` layers, is the vocabulary), e.g. a Llama-3 tokenizer on a Llama-2 model.
 */
export function checkTokenizerVocab(c: Checker, inv: ModelInventory): void {
  const embeddings = inv.layers.filter((l) => l.op === 'Gather');
  if (!embeddings.length) return;
  const vocab = maxOf(embeddings.map((l) => l.rows));
  const table = embeddings.find((l) => l.rows === vocab)!;
  for (const t of c.tokenizers) {
    if (t.facts.maxId < vocab) continue;
    c.rep(t.at.loc, 'QR121', `This tokenizer (${t.facts.summary}) has token ids up to ${t.facts.maxId.toLocaleString('en-US')}, but the model's embedding \`${table.name}\` has ${vocab.toLocaleString('en-US')} rows: it is not this model's tokenizer.`);
  }
}
