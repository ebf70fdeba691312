// The schema is the single source of truth: the reference docs and the TextMate grammar must name
// every keyword, key, method, preset and diagnostic code it defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KEYS, KEYWORDS, BUILTIN_PRESETS } from '../../../language-server/core/recipe/schema';
import { CODES } from '../../../language-server/core/recipe/diagnostics';

const root = process.cwd();

test('docs/recipe-language.md documents every keyword, key, method, preset and code', () => {
  const doc = readFileSync(path.join(root, 'docs', 'recipe-language.md'), 'utf8');
  const missing: string[] = [];
  for (const k of KEYWORDS) { if (!doc.includes(`\`${k.name}\``)) missing.push(k.name); for (const m of k.methods ?? []) if (!doc.includes(m.name)) missing.push(m.name); }
  for (const k of KEYS) if (!doc.includes(`\`${k.name}\``)) missing.push(k.name);
  for (const p of Object.keys(BUILTIN_PRESETS)) if (!doc.includes(`\`${p}\``)) missing.push(p);
  for (const c of Object.keys(CODES)) if (!doc.includes(`| ${c} |`)) missing.push(c);
  assert.deepEqual(missing, []);
});

test('the TextMate grammar knows every keyword, key, method and preset', () => {
  const g = JSON.parse(readFileSync(path.join(root, 'extension', 'syntaxes', 'qrecipe.tmLanguage.json'), 'utf8')) as { repository: Record<string, { match?: string }> };
  const all = Object.values(g.repository).map((r) => r.match ?? '').join('\n');
  const words = [...KEYWORDS.map((k) => k.name), ...KEYWORDS.flatMap((k) => (k.methods ?? []).map((m) => m.name)), ...KEYS.map((k) => k.name), ...Object.keys(BUILTIN_PRESETS)];
  const missing = words.filter((w) => !new RegExp(`[(|]${w.replace(/[-.]/g, '\\$&')}[|)]`).test(all));
  assert.deepEqual(missing, []);
});
