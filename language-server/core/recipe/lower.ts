/**
 * Lowering: syntax tree of one file → a checked, typed description (`Doc`) of its items, with the
 * schema's type, range and unit checks (QR1xx; each value type's checker is in values.ts). Imports,
 * name references and the model are handled later by `analyze.ts`. Never throws.
 */
import { pushAll } from '../util/arrays';
import { drain } from '../util/cancel';
import path from 'node:path';
import { stringValue, type Token } from './lexer';
import {
  type BlockKind, type StageKind, KEYWORD_BY_NAME, KEYWORDS, keySpec, keysOf, anyKeySpec, LLMC_ALIASES, BUILTIN_PRESETS,
} from './schema';
import { diag, didYouMean, type Diagnostic, LineIndex } from './diagnostics';
import type { BlockNode, FileNode, ItemNode } from './syntax';
import { moveDiagnostic, movedFrom } from './reparse';
import type { MetricName } from './resolved';
import { checkValue, type Loc, type Val } from './values';

export type { Loc, Val };

export interface DocOverride { pattern: Val<string>; keys: Map<string, Val>; loc: Loc }
export interface DocMetric { metric: MetricName; on?: Val<string>; loc: Loc }
export interface DocNamed { name: string; nameLoc: Loc; keys: Map<string, Val>; loc: Loc }
export interface DocStage {
  kind: StageKind;
  method?: Val<string>;
  on?: Val<string>;
  keys: Map<string, Val>;
  targets: Val<string>[];
  ignore: Val<string>[];
  overrides: DocOverride[];
  metrics: DocMetric[];
  format?: Val<string>;
  path?: Val<string>;
  /** A `targets` pattern was dropped, or an `ignore` one did not compile (QR115): the selection is not what was meant. */
  incomplete?: boolean;
  loc: Loc;
  keywordLoc: Loc;
  /** Offset just after the header line's last token (where inlay hints go). */
  headerEnd: number;
}
export interface Doc {
  file: string;
  text: string;
  lines: LineIndex;
  tree: FileNode;
  uses: Val<string>[];
  models: Val<string>[];
  data: DocNamed[];
  presets: DocNamed[];
  stages: DocStage[];
  diagnostics: Diagnostic[];
}

const STAGES: StageKind[] = ['prune', 'quantize', 'allocate', 'finetune', 'evaluate', 'export'];

/** Where walkBlock puts what it finds in a block. */
interface BlockSink {
  keys: Map<string, Val>;
  targets?: Val<string>[];
  ignore?: Val<string>[];
  overrides?: DocOverride[];
  metrics?: DocMetric[];
  incomplete?: boolean;
}

/**
 * Stages lowered from each stage item, with the diagnostics lowering gave them. A stage reads only
 * its own item, the file's folder and (for QR109) line numbers, so the same node in the same file
 * starting on the same line lowers the same: shared, never mutated.
 */
interface LoweredStage { file: string; line: number; stage: DocStage; diagnostics: Diagnostic[] }
const loweredStages = new WeakMap<ItemNode, LoweredStage>();

/** A copy of a lowered stage with every offset moved by `d` (its item moved in the text). */
function moveStage(s: DocStage, d: number): DocStage {
  const L = (l: Loc): Loc => ({ file: l.file, start: l.start + d, end: l.end + d });
  const V = <T>(v: Val<T>): Val<T> => ({ value: v.value, loc: L(v.loc), entry: L(v.entry) });
  const K = (m: Map<string, Val>): Map<string, Val> => new Map([...m].map(([k, v]) => [k, V(v)]));
  const out: DocStage = {
    ...s, keys: K(s.keys), targets: s.targets.map(V), ignore: s.ignore.map(V),
    overrides: s.overrides.map((o) => ({ pattern: V(o.pattern), keys: K(o.keys), loc: L(o.loc) })),
    metrics: s.metrics.map((m) => ({ metric: m.metric, on: m.on && V(m.on), loc: L(m.loc) })),
    loc: L(s.loc), keywordLoc: L(s.keywordLoc), headerEnd: s.headerEnd + d,
  };
  if (s.method) out.method = V(s.method);
  if (s.on) out.on = V(s.on);
  if (s.format) out.format = V(s.format);
  if (s.path) out.path = V(s.path);
  return out;
}

export function lower(file: string, text: string, tree: FileNode): Doc {
  return drain(lowerSteps(file, text, tree));
}

/** `lower` as steps (yields every few hundred items), for `drainSliced` (core/util/cancel.ts). */
export function* lowerSteps(file: string, text: string, tree: FileNode): Generator<void, Doc, void> {
  const doc: Doc = {
    file, text, lines: new LineIndex(text), tree, uses: [], models: [], data: [], presets: [], stages: [], diagnostics: [],
  };
  const dir = path.dirname(file);
  const out = doc.diagnostics;
  // duplicate names found by map, not by scanning the list (100k data sets stay linear)
  const dataByName = new Map<string, DocNamed>();
  const presetByName = new Map<string, DocNamed>();
  const loc = (start: number, end: number): Loc => ({ file, start, end });
  const tl = (t: Token): Loc => loc(t.start, t.end);
  const absPath = (s: string): string => path.resolve(dir, s);

  /** Reports an unknown key with the most useful hint: other block, llm-compressor alias, near miss. */
  function unknownKey(kind: BlockKind, key: Token, where: string): void {
    const other = anyKeySpec(key.text);
    if (other) {
      const homes = [...new Set(other.blocks.map((b) => b.replace('override-', '')))]
        .map((h) => h === 'data' ? 'a data set' : h === 'preset' ? 'a preset' : `${h === 'allocate' ? 'an' : 'a'} ${h} stage`);
      const why = kind.startsWith('override') ? ' (overrides take only per-layer parameters)' : '';
      out.push(diag('QR103', key.start, key.end,
        `\`${key.text}\` is not allowed in ${where}: it belongs in ${homes.join(' or ')}${why}. Move it there or remove it.`,
        [{ title: `Remove \`${key.text}\``, start: key.start, end: key.end, text: '' }]));
      return;
    }
    const alias = LLMC_ALIASES[key.text];
    const valid = keysOf(kind).map((k) => k.name);
    if (alias && valid.includes(alias)) {
      out.push(diag('QR102', key.start, key.end, `Unknown key \`${key.text}\` (llm-compressor spelling): write \`${alias}\`.`,
        [{ title: `Change to ${alias}`, start: key.start, end: key.end, text: alias }]));
      return;
    }
    const dm = didYouMean(key.text, valid);
    out.push(diag('QR102', key.start, key.end,
      dm ? `Unknown key \`${key.text}\` in ${where}: did you mean \`${dm}\`?`
        : `Unknown key \`${key.text}\` in ${where}. Valid keys: ${valid.join(', ')}.`,
      dm ? [{ title: `Change to ${dm}`, start: key.start, end: key.end, text: dm }] : undefined));
  }

  /** Checks every entry of a block; fills keys/targets/ignore/overrides/metrics. */
  function walkBlock(
    block: BlockNode | undefined, kind: BlockKind, where: string, method: string | undefined, sink: BlockSink,
  ): void {
    if (!block) return;
    for (const e of block.entries) {
      if (e.kind !== 'Entry') continue;
      const spec = keySpec(kind, e.key.text);
      if (!spec) {
        unknownKey(kind, e.key, where);
        if (e.block) walkNoBlock(e.block);
        continue;
      }
      if (e.block && spec.type.kind !== 'pattern-block') {
        out.push(diag('QR104', e.block.start, e.block.end, `\`${spec.name}\` takes no block.`));
      }
      if (spec.methods && method && !spec.methods.includes(method)) {
        out.push(diag('QR114', e.key.start, e.key.end,
          `\`${spec.name}\` only applies to ${spec.methods.join(' and ')}; ${method} ignores it. Remove it or change the method.`,
          [{ title: `Remove \`${spec.name}\``, start: e.start, end: e.end, text: '' }]));
      }
      const before = out.length;
      const v = checkValue(spec, e, file, dir, out);
      if (spec.type.kind === 'patterns') {
        // a target dropped, or an exclusion that is not a regular expression: the selection is not the one meant
        // (an exclusion still being typed, an empty or unterminated string, is left out while the rest is checked)
        const dropped = ((v?.value as Val<string>[] | undefined)?.length ?? 0) !== e.values.length;
        if (spec.name === 'targets' ? dropped : out.slice(before).some((d) => d.code === 'QR115')) sink.incomplete = true;
      }
      if (!v) continue;
      if (spec.type.kind === 'patterns') {
        const list = spec.name === 'targets' ? sink.targets : sink.ignore;
        if (list) pushAll(list, v.value as Val<string>[]);
        continue;
      }
      if (spec.type.kind === 'pattern-block') {
        const keys = new Map<string, Val>();
        const ok = kind === 'prune' ? 'override-prune' : kind === 'quantize' ? 'override-quantize' : 'override-allocate';
        walkBlock(e.block, ok, 'an override', method, { keys });
        sink.overrides?.push({ pattern: v as Val<string>, keys, loc: loc(e.start, e.end) });
        continue;
      }
      if (spec.type.kind === 'metric') {
        sink.metrics?.push({
          metric: spec.name as MetricName, on: v.value as Val<string> | undefined, loc: loc(e.start, e.end),
        });
        continue;
      }
      const prev = sink.keys.get(spec.name);
      if (prev) {
        const at = doc.lines.position(prev.entry.start).line + 1;
        out.push(diag('QR109', e.key.start, e.key.end,
          `\`${spec.name}\` is already set on line ${at}; this one wins. Remove one of them.`));
      }
      sink.keys.set(spec.name, v);
    }
  }
  /** Blocks that nothing owns: their content is ignored (the owner is already reported). */
  function walkNoBlock(_block: BlockNode): void { /* reported at the owner */ }

  const topNames = KEYWORDS.map((k) => k.name);
  let steps = 0;
  for (const item of tree.items) {
    if ((++steps & 255) === 0) yield;
    if (item.kind !== 'Item') continue;
    const kw = item.keyword.text;
    const spec = KEYWORD_BY_NAME.get(kw);
    if (!spec) {
      const dm = didYouMean(kw, topNames);
      const other = anyKeySpec(kw);
      out.push(diag('QR101', item.keyword.start, item.keyword.end,
        dm ? `Unknown keyword \`${kw}\`: did you mean \`${dm}\`?`
          : other
            ? `\`${kw}\` is a key, not a top-level keyword: put it inside a ${other.blocks[0].replace('override-', '')} block.`
            : `Unknown keyword \`${kw}\`. A recipe is made of: ${topNames.join(', ')}.`,
        dm ? [{ title: `Change to ${dm}`, start: item.keyword.start, end: item.keyword.end, text: dm }] : undefined));
      continue;
    }
    if (item.block && !spec.block) {
      out.push(diag('QR104', item.block.start, item.block.end, `\`${kw}\` takes no block: write \`${spec.example}\`.`));
    }
    lowerItem(item, kw);
  }

  function lowerItem(item: ItemNode, kw: string): void {
    const args = item.args;
    const itemLoc = loc(item.start, item.end);
    const kwLoc = tl(item.keyword);
    const headerEnd = args.length ? args[args.length - 1].end : item.keyword.end;
    const argVal = (t: Token, v: unknown): Val => ({ value: v, loc: tl(t), entry: itemLoc });
    const tooMany = (n: number, form: string): void => {
      if (args.length > n) {
        out.push(diag('QR108', args[n].start, args[args.length - 1].end, `Too many values: write \`${form}\`.`));
      }
    };
    /** The item's first argument is missing or not what `kw` needs. */
    const badFirst = (message: string): void => {
      const at = args[0] ?? item.keyword;
      out.push(diag(args.length ? 'QR104' : 'QR107', at.start, at.end, message));
    };
    if (kw === 'use' || kw === 'model') {
      const form = kw === 'use' ? 'use "base.qrecipe"' : 'model "model.onnx"';
      if (!args.length || args[0].kind !== 'string' || !stringValue(args[0])) {
        badFirst(`Write \`${form}\` with the path in double quotes.`);
        return;
      }
      tooMany(1, form);
      const v = argVal(args[0], absPath(stringValue(args[0]))) as Val<string>;
      (kw === 'use' ? doc.uses : doc.models).push(v);
      return;
    }
    if (kw === 'data' || kw === 'preset') {
      if (!args.length || args[0].kind !== 'ident') {
        badFirst(`A ${kw === 'data' ? 'data set' : kw} needs a name (letters, digits, _ -): \`${kw} NAME { ... }\`.`);
        return;
      }
      tooMany(1, `${kw} ${args[0].text} { ... }`);
      const named: DocNamed = { name: args[0].text, nameLoc: tl(args[0]), keys: new Map(), loc: itemLoc };
      if (!item.block) {
        out.push(diag('QR107', item.start, item.end, kw === 'data'
          ? 'A data set needs a block: `data NAME { text "file.txt" }`.'
          : 'A preset needs a block: `preset NAME { bits 4 }`.'));
      }
      walkBlock(item.block, kw, kw === 'data' ? 'a data set' : 'a preset', undefined, { keys: named.keys });
      const { start, end } = named.nameLoc;
      if (kw === 'preset' && BUILTIN_PRESETS[named.name]) {
        out.push(diag('QR111', start, end, `\`${named.name}\` is a built-in preset: choose another name.`));
      }
      const list = kw === 'data' ? doc.data : doc.presets;
      const byName = kw === 'data' ? dataByName : presetByName;
      const dup = byName.get(named.name);
      if (dup) {
        const at = doc.lines.position(dup.loc.start).line + 1;
        out.push(diag('QR111', start, end, `A ${kw} named \`${named.name}\` already exists on line ${at}: rename one of them.`));
      } else { list.push(named); byName.set(named.name, named); }
      return;
    }
    const kind = kw as StageKind;
    if (!STAGES.includes(kind)) return;
    // a stage the parser took over (same node) lowers to the same stage; one it moved, to that stage
    // moved; unless a message names a line and the stage's line changed
    const line = doc.lines.position(item.start).line;
    let hit = loweredStages.get(item);
    if (!hit) {
      const m = movedFrom(item);
      const old = m && loweredStages.get(m.from as ItemNode);
      if (m && old) {
        const diagnostics = old.diagnostics.map((d) => moveDiagnostic(d, m.delta));
        hit = { file: old.file, line, stage: moveStage(old.stage, m.delta), diagnostics };
        if (old.line !== line && hit.diagnostics.some((d) => d.code === 'QR109')) hit = undefined;
        else loweredStages.set(item, hit);
      }
    }
    if (hit && hit.file === file && (hit.line === line || !hit.diagnostics.some((d) => d.code === 'QR109'))) {
      pushAll(out, hit.diagnostics);
      doc.stages.push(hit.stage);
      return;
    }
    const before = out.length;
    const stage = lowerStage();
    loweredStages.set(item, { file, line, stage, diagnostics: out.slice(before) });
    doc.stages.push(stage);

    function lowerStage(): DocStage {
      const stage: DocStage = {
        kind, keys: new Map(), targets: [], ignore: [], overrides: [], metrics: [], loc: itemLoc, keywordLoc: kwLoc, headerEnd,
      };
      const methods = KEYWORD_BY_NAME.get(kw)?.methods ?? [];
      const names = methods.map((m) => m.name);
      /** QR110 for an unknown method or format `t` (`what`: its name in the message, `list`: the heading of the list). */
      const unknownMethod = (t: Token, what: string, list: string): void => {
        const dm = didYouMean(t.text, names);
        out.push(diag('QR110', t.start, t.end,
          `Unknown ${what} \`${t.text}\`${dm ? `: did you mean \`${dm}\`?` : `. ${list}: ${names.join(', ')}.`}`,
          dm ? [{ title: `Change to ${dm}`, start: t.start, end: t.end, text: dm }] : undefined));
      };
      if (kind === 'export') {
        const f = args[0];
        if (!f || f.kind !== 'ident') {
          out.push(diag('QR107', item.keyword.start, item.keyword.end,
            `\`export\` needs a format and a path: \`export onnx-matmulnbits "out/model.onnx"\`. Formats: ${names.join(', ')}.`));
        } else if (!names.includes(f.text)) unknownMethod(f, 'export format', 'Formats');
        else stage.format = argVal(f, f.text) as Val<string>;
        const p = args[1];
        if (f && f.kind === 'ident' && (!p || p.kind !== 'string' || !stringValue(p))) {
          out.push(diag('QR107', f.start, f.end, 'Give the output path in double quotes after the format.'));
        } else if (p && p.kind === 'string' && stringValue(p)) stage.path = argVal(p, absPath(stringValue(p))) as Val<string>;
        tooMany(2, 'export FORMAT "path"');
        return stage;
      }
      // header: [method] [on NAME]
      let i = 0;
      if (kind !== 'evaluate' && args[i] && args[i].kind === 'ident' && args[i].text !== 'on') {
        const m = args[i];
        if (!names.includes(m.text)) unknownMethod(m, `${kw} method`, 'Methods');
        else stage.method = argVal(m, m.text) as Val<string>;
        i++;
      } else if (kind === 'prune' || kind === 'quantize') {
        out.push(diag('QR107', item.keyword.start, item.keyword.end,
          `\`${kw}\` needs a method: ${names.join(', ')} (e.g. \`${KEYWORD_BY_NAME.get(kw)?.example}\`).`));
      }
      if (args[i] && args[i].text === 'on' && kind !== 'evaluate') {
        if (args[i + 1] && args[i + 1].kind === 'ident') {
          stage.on = argVal(args[i + 1], args[i + 1].text) as Val<string>;
          i += 2;
        } else {
          out.push(diag('QR107', args[i].start, args[i].end, 'Write `on NAME` with the name of a data set.'));
          i++;
        }
      }
      if (args.length > i) {
        out.push(diag('QR108', args[i].start, args[args.length - 1].end, kind === 'evaluate'
          ? 'Metrics go inside the block: `evaluate { perplexity on heldout }`.'
          : `Unexpected ${args.slice(i).map((a) => a.text).join(' ')}: the header is \`${kw} METHOD on DATASET { ... }\`.`));
      }
      if (kind === 'evaluate' && !item.block?.entries.some((e) => e.kind === 'Entry')) {
        out.push(diag('QR107', item.keyword.start, item.keyword.end,
          '`evaluate` lists no metric: write e.g. `evaluate { perplexity on heldout  size }`.'));
      }
      walkBlock(item.block, kind, `a ${kind} stage`, stage.method?.value as string | undefined, stage);
      return stage;
    }
  }
  return doc;
}
