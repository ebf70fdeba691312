// The layering of docs/ARCHITECTURE.md as one ESLint rule: each import (static, dynamic, require,
// re-export) is resolved against the importing file, both ends are placed in a layer by the table
// below (longest folder prefix wins), and an edge the table does not allow is an error. Packages a
// layer may not load are listed per layer. test/unit/architecture/layering.test.ts checks the rule.
import path from 'node:path';

const PURE = ['vscode', 'onnxruntime-node', 'vscode-languageserver', 'vscode-languageclient'];

/** Layers by folder (relative to the repository root), what each may import, and packages it may not load. */
export const LAYERS = [
  { name: 'core-format', dir: 'language-server/core/format/', may: ['core-format'], packages: PURE,
    why: 'number, size and metric-name formatting is pure and imports nothing else, so that every layer (webviews too) prints numbers one way' },
  { name: 'core', dir: 'language-server/core/', may: ['core', 'core-format', 'native-pure'], packages: ['onnxruntime-node', 'vscode', 'vscode-languageserver', 'vscode-languageclient'],
    why: 'the shared core is pure: no onnxruntime, no native addon, no VS Code, no other layer' },
  { name: 'server', dir: 'language-server/server/', may: ['server', 'core', 'core-format', 'native-pure'], packages: ['onnxruntime-node', 'vscode'],
    why: 'the language server imports the shared core only' },
  { name: 'host', dir: 'extension/src/', may: ['host', 'core', 'core-format', 'webview-protocol', 'native-pure'], packages: ['onnxruntime-node'],
    why: 'the extension host never runs the engine: it asks the runner (NDJSON protocol) or the language server (typed LSP requests)' },
  { name: 'engine', dir: 'extension/runner/engine/', may: ['engine', 'core', 'core-format', 'native', 'native-pure'], packages: ['vscode'],
    why: 'the engine serves the runner and knows nothing of its pipeline or commands' },
  { name: 'runner', dir: 'extension/runner/', may: ['runner', 'engine', 'core', 'core-format', 'native', 'native-pure'], packages: ['vscode'],
    why: 'the runner imports the core, its engine and the native addon' },
  { name: 'webview-protocol', dir: 'webviews/protocol.ts', may: ['core-types', 'core-format'], packages: ['onnxruntime-node', 'vscode'],
    why: 'the webview protocol holds message types' },
  { name: 'webviews', dir: 'webviews/', may: ['webviews', 'webview-protocol', 'core-types', 'core-format'], packages: ['onnxruntime-node', 'vscode'],
    why: 'webviews talk to the host through webviews/protocol.ts and use core types only' },
  { name: 'native', dir: 'native/', may: ['native', 'native-pure'], packages: ['vscode', 'onnxruntime-node'],
    why: 'the native API (native/index.ts and the files behind it) imports nothing of ours' },
  // the pure files of native/ (facts and conventions that load no addon), which the core may import
  { name: 'native-pure', dir: 'native/limits.ts', may: [], packages: PURE,
    why: 'native/limits.ts is pure facts that the core may import: it imports nothing' },
  { name: 'native-pure', dir: 'native/cancel.ts', may: [], packages: PURE,
    why: 'native/cancel.ts is the cancellation and progress convention that the core re-exports: it imports nothing' },
];

export function layerOf(rel) {
  let best;
  for (const l of LAYERS) if (rel.startsWith(l.dir) && (!best || l.dir.length > best.dir.length)) best = l;
  return best;
}

function allows(from, to, typeOnly) {
  if (from.may.includes(to.name)) return true;
  return to.name === 'core' && typeOnly && from.may.includes('core-types');
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: { type: 'problem', docs: { description: 'imports follow the layering of docs/ARCHITECTURE.md' }, schema: [] },
  create(context) {
    const root = context.cwd;
    const file = path.relative(root, context.filename).split(path.sep).join('/');
    const from = layerOf(file);
    if (!from) return {};
    const check = (node, spec, typeOnly) => {
      if (typeof spec !== 'string') return;
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (from.packages.includes(pkg)) context.report({ node, message: `${file} (${from.name}) may not load '${pkg}': ${from.why}.` });
        return;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const to = layerOf(`${target}.ts`) ?? layerOf(target);
      if (!to || allows(from, to, typeOnly)) return;
      context.report({ node, message: `${file} (${from.name}) may not import ${target} (${to.name}${to.name === 'core' ? ', except types' : ''}): ${from.why}.` });
    };
    return {
      ImportDeclaration: (n) => check(n, n.source.value, n.importKind === 'type' || (n.specifiers.length > 0 && n.specifiers.every((s) => s.importKind === 'type'))),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value, n.exportKind === 'type'),
      ExportAllDeclaration: (n) => check(n, n.source.value, n.exportKind === 'type'),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n, n.source.value, false),
      CallExpression: (n) => {
        if (n.callee.type === 'Identifier' && n.callee.name === 'require' && n.arguments[0]?.type === 'Literal') check(n, n.arguments[0].value, false);
      },
    };
  },
};

export default { rules: { layering: rule } };
