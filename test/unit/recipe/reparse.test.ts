// Incremental parsing (reparse.ts): after each of thousands of seeded random edits, chained on the
// previous incremental result, `parse(text, previous)` deep-equals `parse(text)` (tree, typed fields,
// tokens, errors), and it really takes items over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../../language-server/core/util/rng';
import { parse, type ParseResult } from '../../../language-server/core/recipe/parser';
import { isNode, print, type Element, type SyntaxNode } from '../../../language-server/core/recipe/syntax';

/**
 * A plain copy of a parse where typed fields (keyword, args, block, entries ...) are the indices of
 * their elements in `children`: comparable with deepEqual without walking shared sub-trees twice
 * (which is exponential in the nesting depth).
 */
function canon(r: ParseResult): unknown {
  const node = (n: SyntaxNode): unknown => {
    const ix = (e: Element | undefined) => (e === undefined ? -1 : n.children.indexOf(e));
    const typed = n.kind === 'File' ? { items: n.items.map(ix) }
      : n.kind === 'Item' ? { keyword: ix(n.keyword), args: n.args.map(ix), block: ix(n.block) }
        : n.kind === 'Block' ? { blockKind: n.blockKind, open: ix(n.open), close: ix(n.close), entries: n.entries.map(ix) }
          : n.kind === 'Entry' ? { key: ix(n.key), values: n.values.map(ix), block: ix(n.block) } : {};
    return { kind: n.kind, start: n.start, end: n.end, keys: Object.keys(n).sort(), typed, children: n.children.map((c) => (isNode(c) ? node(c) : c)) };
  };
  return { tree: node(r.tree), errors: r.errors, tokens: r.tokens, text: r.text };
}

function corpus(): string[] {
  const dirs = ['examples', 'test/unit/recipe/golden/ok', 'test/unit/recipe/golden/err'].map((d) => path.join(process.cwd(), d));
  return dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.qrecipe')).map((f) => readFileSync(path.join(d, f), 'utf8')));
}

// pieces that change how neighbours parse: braces, quotes, comments, newlines, keywords, junk
const PIECES = ['{', '}', '"', '#', '\n', '\r\n', '\r', ' ', '\t', 'quantize gptq {', 'prune', 'data x', 'override "a" {', 'bits 4', '2:4', '50%', '=', '\\', 'é', '\n}\n', 'model "m.onnx"\n'];

function edit(rng: Rng, s: string, others: string[]): string {
  const at = rng.int(s.length + 1);
  switch (rng.int(5)) {
    case 0: return s.slice(0, at) + PIECES[rng.int(PIECES.length)] + s.slice(at);
    case 1: return s.slice(0, at) + s.slice(at + 1 + rng.int(30));
    case 2: return s.slice(0, at) + String.fromCharCode(32 + rng.int(95)) + s.slice(at + 1); // same length
    case 3: { const o = others[rng.int(others.length)]; const a = rng.int(o.length + 1); return s.slice(0, at) + o.slice(a, a + rng.int(80)) + s.slice(at); }
    default: { const b = Math.min(s.length, at + rng.int(200)); return s.slice(0, at) + s.slice(at, b).replace(/\d/g, (d) => String((+d + 1) % 10)) + s.slice(b); }
  }
}

test('incremental parse equals a parse from scratch after 4,000 chained random edits', () => {
  const rng = new Rng(5);
  const base = corpus();
  let reusedItems = 0;
  for (let chain = 0; chain < 80; chain++) {
    let text = base[rng.int(base.length)].repeat(1 + rng.int(3));
    let prev: ParseResult = parse(text);
    for (let k = 0; k < 50; k++) {
      text = edit(rng, text, base);
      const inc = parse(text, prev);
      const fresh = parse(text);
      assert.equal(print(inc.tree), text);
      assert.deepEqual(canon(inc), canon(fresh), `chain ${chain} edit ${k}: ${JSON.stringify(text.slice(0, 200))}`);
      const old = new Set(prev.tree.items);
      reusedItems += inc.tree.items.filter((i) => old.has(i)).length;
      prev = inc;
    }
  }
  assert.ok(reusedItems > 4000, `items taken over unchanged: ${reusedItems}`);
});

test('an edit inside one stage re-parses that stage only; items before and after are the same objects', () => {
  const stage = (i: number) => `quantize gptq {\n  bits 4  group 32\n  override "layers.${i}.*" { bits 8 }\n}\n`;
  const text = 'model "m.onnx"\n' + Array.from({ length: 20 }, (_, i) => stage(i)).join('');
  const a = parse(text);
  const at = text.indexOf('bits 4', text.indexOf('layers.10.'));
  const b = parse(text.slice(0, at) + 'bits 3' + text.slice(at + 6), a);
  const same = b.tree.items.filter((it, i) => it === a.tree.items[i]).length;
  assert.equal(same, a.tree.items.length - 1, 'all but the edited stage');
  const c = parse(text.slice(0, at) + 'bits 13' + text.slice(at + 6), a); // one character longer: the tail moves
  assert.deepEqual(canon(c), canon(parse(c.text)));
});
