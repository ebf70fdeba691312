// The layering of docs/ARCHITECTURE.md is enforced by the ESLint rule `qrecipe/layering` of
// extension/scripts/eslint-layering.mjs. These tests keep that enforcement honest: each forbidden edge, written into a
// file of the layer it would break, must be reported, each allowed edge must not, and the tree as
// it is must have no such report.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../../..');
const eslint = new ESLint({ cwd: root });

async function restricted(file: string, source: string): Promise<string[]> {
  const [r] = await eslint.lintText(source, { filePath: path.join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === 'qrecipe/layering').map((m) => m.message);
}

const forbidden: [string, string][] = [
  ['language-server/core/recipe/x.ts', "import * as ort from 'onnxruntime-node';"],
  ['language-server/core/model/x.ts', "import * as native from '../../../native/index';"],
  ['language-server/core/util/x.ts', "import { runRecipe } from '../../../extension/runner/pipeline/run-recipe';"],
  ['language-server/core/runs/x.ts', "import type { Thing } from '../../server/analyses';"],
  ['language-server/core/runs/x.ts', "import * as vscode from 'vscode';"],
  ['language-server/server/x.ts', "import { openSession } from '../../extension/runner/engine/evaluate/session';"],
  ['extension/src/x.ts', "import { evaluateModel } from '../runner/engine/evaluate/index';"],
  ['extension/src/panels/x.ts', "import * as native from '../../../native/index';"],
  ['extension/src/x.ts', "import { docs } from '../../language-server/server/analyses';"],
  ['extension/runner/engine/x.ts', "import { Ctx } from '../../src/ctx';"],
  ['webviews/compare/x.ts', "import { Ctx } from '../../extension/src/ctx';"],
  ['native/x.ts', "import { parse } from '../language-server/core/recipe/parser';"],
  ['language-server/core/format/x.ts', "import { parse } from '../recipe/parser';"],
  ['webviews/compare/x.ts', "import { compareRuns } from '../../language-server/core/runs/compare';"],
  // the core may import native/limits.ts (pure facts), never the addon's door or a file behind it
  ['language-server/core/recipe/x.ts', "import { gptq } from '../../../native/quantize';"],
  ['language-server/core/recipe/x.ts', "import { OBS_BLOCK } from '../../../native/index';"],
  ['native/limits.ts', "import { load } from './load';"],
  ['native/limits.ts', "import { Range } from 'vscode-languageserver';"],
  ['native/cancel.ts', "import { check } from './checks';"],
];

const allowed: [string, string][] = [
  ['extension/runner/engine/x.ts', "import * as ort from 'onnxruntime-node';"],
  ['extension/runner/pipeline/x.ts', "import * as native from '../../../native/index';"],
  ['extension/src/x.ts', "import type { RunnerEvent } from '../../language-server/core/protocol/runner';"],
  ['webviews/compare/x.ts', "import type { Comparison } from '../../language-server/core/runs/compare';"],
  ['language-server/server/x.ts', "import { parse } from '../core/recipe/parser';"],
  ['webviews/compare/x.ts', "import { formatMetric } from '../../language-server/core/format/metrics';"],
  ['language-server/core/runs/x.ts', "import { formatBytes } from '../format/numbers';"],
  ['extension/src/x.ts', "import { RequestType } from 'vscode-languageserver-protocol';"],
  ['language-server/core/recipe/x.ts', "import { OBS_BLOCK } from '../../../native/limits';"],
  ['native/load.ts', "import { OBS_BLOCK } from './limits';"],
  ['language-server/core/util/x.ts', "import { CancelledError } from '../../../native/cancel';"],
];

test('every forbidden cross-layer import is reported by lint', async () => {
  for (const [file, src] of forbidden) {
    const msgs = await restricted(file, src);
    assert.ok(msgs.length > 0, `${file}: \`${src}\` should be refused by qrecipe/layering`);
  }
});

test('the allowed edges are not reported', async () => {
  for (const [file, src] of allowed) assert.deepEqual(await restricted(file, src), [], `${file}: \`${src}\``);
});

test('the tree has no cross-layer import', async () => {
  const results = await eslint.lintFiles(['language-server', 'extension', 'webviews', 'native']);
  const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'qrecipe/layering').map((m) => `${path.relative(root, r.filePath)}:${m.line}: ${m.message}`));
  assert.deepEqual(bad, []);
});
