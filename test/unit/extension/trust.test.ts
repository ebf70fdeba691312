// Issue 20 #5: every way the extension starts native code or onnxruntime goes through the trust
// gate (extension/src/trust.ts). The extension host cannot be driven here, so this reads the
// sources: each function that starts a runner process for run, export, sensitivity or SPADE calls
// requireTrust before it, and a restored Sensitivity view asks quietly (no recompute, no popup).
// The UI suite checks the refusal itself in a real untrusted workspace (test/ui/runs.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.join(process.cwd(), 'extension', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.ts') ? [p] : [];
  });
}

/** The body of the function (method or function declaration) that encloses `index`. */
function enclosing(text: string, index: number): { name: string; body: string } {
  // declarations only: at the start of a line, `[modifiers] [async] [function] name<T>(...) ... {`
  const head = /^[ \t]*(?:export\s+)?(?:(?:private|protected|public|static)\s+)*(?:async\s+)?(?:function\s+)?([A-Za-z_]\w*)\s*(?:<[^>]*>)?\((?:[^()]|\([^()]*\))*\)\s*(?::\s*[^{;]+)?\{/gm;
  let best: { name: string; start: number } | undefined;
  for (let m = head.exec(text); m && m.index < index; m = head.exec(text)) {
    if (['if', 'for', 'while', 'switch', 'catch'].includes(m[1]!)) continue;
    best = { name: m[1]!, start: m.index };
  }
  return { name: best?.name ?? '?', body: best ? text.slice(best.start, index) : '' };
}

test('every runner process for run, export, sensitivity or SPADE is started behind requireTrust', () => {
  const starts: string[] = [];
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    for (let i = text.indexOf('new RunnerProcess('); i >= 0; i = text.indexOf('new RunnerProcess(', i + 1)) {
      const { name, body } = enclosing(text, i);
      starts.push(`${path.relative(SRC, f)}:${name}`);
      assert.match(body, /requireTrust\(/, `${path.relative(SRC, f)}: ${name} starts a runner without requireTrust`);
    }
    // short CLI commands may run untrusted only when they execute no model
    for (const m of text.matchAll(/runCli\([^,]+,\s*\[\s*'([\w-]+)'/g)) assert.ok(['init', 'import-llmc', 'check'].includes(m[1]!), `${path.relative(SRC, f)} runs '${m[1]}' outside the gate`);
  }
  assert.deepEqual(starts.sort(), ['panels/sensitivity.ts:runner', 'runs/run-commands.ts:exportRun', 'runs/run-manager.ts:run']);
});

test('a restored Sensitivity view asks quietly: it never recomputes, nor pops up, in an untrusted workspace', () => {
  const text = readFileSync(path.join(SRC, 'panels', 'sensitivity.ts'), 'utf8');
  assert.match(text, /case 'ready':[^]*?this\.compute\(\[\], true\)/, 'the view\'s own ready message computes quietly');
  assert.match(text, /requireTrust\(this\.ctx, [^)]*\{ quiet \}\)/);
});
