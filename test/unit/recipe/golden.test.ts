// Parser golden tests: every golden/{ok,err}/*.qrecipe is parsed and lowered; the tree dump and the
// diagnostics must equal the .tree and .diag files next to it. QRECIPE_GOLDEN_UPDATE=1 rewrites them.
// A parser bug becomes a new input file here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from '../../../language-server/core/recipe/parser';
import { lower } from '../../../language-server/core/recipe/lower';
import { dump, print } from '../../../language-server/core/recipe/syntax';
import { LineIndex } from '../../../language-server/core/recipe/diagnostics';

const root = path.join(process.cwd(), 'test', 'unit', 'recipe', 'golden');
const update = process.env.QRECIPE_GOLDEN_UPDATE === '1';

function diagnosticsText(file: string, text: string): string {
  const r = parse(text);
  const doc = lower(path.join('/golden', file), text, r.tree);
  const lines = new LineIndex(text);
  const all = [...r.errors, ...doc.diagnostics].sort((a, b) => a.start - b.start || a.code.localeCompare(b.code));
  return all.map((d) => {
    const s = lines.position(d.start), e = lines.position(d.end);
    return `${s.line + 1}:${s.character + 1}-${e.line + 1}:${e.character + 1} ${d.severity} ${d.code}: ${d.message}`;
  }).join('\n') + '\n';
}

for (const kind of ['ok', 'err']) {
  const dir = path.join(root, kind);
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.qrecipe')).sort()) {
    test(`golden ${kind}/${name}`, () => {
      const file = path.join(dir, name);
      const text = readFileSync(file, 'utf8');
      const r = parse(text);
      assert.equal(print(r.tree), text, 'the tree prints back the exact input');
      if (kind === 'ok') assert.deepEqual(r.errors, [], 'ok inputs have no syntax errors');
      else assert.ok(r.errors.length + lower(file, text, r.tree).diagnostics.length > 0, 'err inputs have diagnostics');
      const tree = dump(r.tree);
      const diags = diagnosticsText(name, text);
      const treeFile = file.replace(/\.qrecipe$/, '.tree');
      const diagFile = file.replace(/\.qrecipe$/, '.diag');
      if (update || !existsSync(treeFile)) { writeFileSync(treeFile, tree); writeFileSync(diagFile, diags); }
      assert.equal(tree, readFileSync(treeFile, 'utf8'), `tree of ${name} (QRECIPE_GOLDEN_UPDATE=1 to accept)`);
      assert.equal(diags, readFileSync(diagFile, 'utf8'), `diagnostics of ${name}`);
    });
  }
}
