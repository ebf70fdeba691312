// The extension host never runs heavy analysis (issue 22, item 1): no file of extension/src imports
// the core's model reading or recipe analysis; it asks the language server (typed LSP requests) or
// the runner (NDJSON protocol). Type-only imports of their result types are fine.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');
const HEAVY = /core\/(model\/(reader|inventory|graph|summary)|recipe\/(check|analyze|parser|lower|reparse|stage-model|scaffold)|sensitivity\/recipe-edit)['/]/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('extension/src imports no model reader, no recipe analysis, except as types', () => {
  const bad: string[] = [];
  for (const f of files(path.join(ROOT, 'extension', 'src'))) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (/^\s*import\s/.test(line) && HEAVY.test(line) && !/^\s*import\s+type\s/.test(line)) {
        // a value import of a heavy module: only pure formatting helpers of summary.ts are allowed
        if (/core\/model\/summary['/]/.test(line) && !/summarizeModel/.test(line)) continue;
        bad.push(`${path.relative(ROOT, f)}: ${line.trim()}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
