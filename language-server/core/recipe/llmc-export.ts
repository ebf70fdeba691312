/**
 * Resolved .qrecipe → llm-compressor YAML recipe. Quantize and prune stages become modifiers in
 * their own stages; everything without an equivalent (allocate, outliers, overrides, model, data,
 * evaluate, export) gets a QR301 diagnostic at its source range.
 */
import { Document, visit, isScalar } from 'yaml';
import type { Analysis } from './analyze';
import { diag, type Diagnostic } from './diagnostics';
import { BUILTIN_PRESETS } from './schema';
import type { QuantParams, SourceRange } from './resolved';

export interface ExportResult { text: string; diagnostics: Diagnostic[] }

export function exportLlmc(a: Analysis): ExportResult {
  const diagnostics: Diagnostic[] = [];
  const lines = a.doc.lines;
  const note = (r: SourceRange, message: string): void => {
    if (r.file !== a.file) { diagnostics.push(diag('QR301', 0, 0, `${r.file}:${r.start.line + 1}: ${message}`)); return; }
    diagnostics.push(diag('QR301', lines.offset(r.start), lines.offset(r.end), message));
  };
  const out: Record<string, unknown> = {};
  let q = 0, p = 0;
  const targetsOf = (t: { text: string }[]): string[] => (t.length ? t.map((x) => x.text) : ['Linear']);
  for (const s of a.recipe.stages) {
    if (s.kind === 'quantize') {
      const mod: Record<string, unknown> = { targets: targetsOf(s.selection.targets) };
      if (!s.selection.targets.length) note(s.range, 'No `targets`: QRecipe\'s default also covers Conv layers; llm-compressor gets "Linear".');
      if (s.selection.ignore.length) mod.ignore = s.selection.ignore.map((x) => x.text);
      const preset = presetOf(s.params);
      if (preset) mod.scheme = preset;
      else {
        mod.config_groups = {
          group_0: {
            targets: targetsOf(s.selection.targets),
            weights: {
              num_bits: s.params.bits, type: 'int', symmetric: s.params.symmetric,
              strategy: s.params.group === 'channel' ? 'channel' : 'group',
              ...(s.params.group === 'channel' ? {} : { group_size: s.params.group }),
              ...(s.params.actorder && s.method === 'gptq' ? { actorder: 'group' } : {}),
            },
          },
        };
      }
      if (s.method === 'gptq') { mod.dampening_frac = s.params.dampening; mod.block_size = s.params.block; }
      if (s.params.outliers > 0) note(s.range, 'Outlier protection (`outliers`) has no llm-compressor equivalent; left out.');
      for (const o of s.overrides) note(o.range, 'Per-layer overrides have no direct equivalent; left out (add a config group for these layers by hand).');
      out[`quant_stage${q ? `_${q + 1}` : ''}`] = { quant_modifiers: { [s.method === 'gptq' ? 'GPTQModifier' : 'QuantizationModifier']: mod } };
      q++;
    } else if (s.kind === 'prune') {
      const name = s.method === 'sparsegpt' ? 'SparseGPTModifier' : s.method === 'wanda' ? 'WandaPruningModifier' : 'MagnitudePruningModifier';
      const mod: Record<string, unknown> = { targets: targetsOf(s.selection.targets) };
      if (s.selection.ignore.length) mod.ignore = s.selection.ignore.map((x) => x.text);
      if (s.method === 'magnitude') {
        Object.assign(mod, { init_sparsity: s.params.sparsity, final_sparsity: s.params.sparsity, start: 0, end: 1, update_frequency: 1 });
        note(s.range, 'prune magnitude becomes MagnitudePruningModifier, a training-time modifier in llm-compressor (one step here).');
      } else mod.sparsity = s.params.sparsity;
      const pt = s.params.pattern;
      mod.mask_structure = typeof pt === 'object' ? `${pt.n}:${pt.m}` : '0:0';
      if (s.method === 'sparsegpt') { mod.dampening_frac = s.params.dampening; mod.block_size = s.params.block; }
      for (const o of s.overrides) note(o.range, 'Per-layer overrides have no direct equivalent; left out.');
      out[`sparsity_stage${p ? `_${p + 1}` : ''}`] = { sparsity_modifiers: { [name]: mod } };
      p++;
    } else if (s.kind === 'allocate') {
      note(s.range, 'allocate (LLM-MQ mixed precision) has no llm-compressor equivalent; left out.');
    } else {
      note(s.range, `${s.kind} has no llm-compressor recipe equivalent (it belongs to the oneshot call / evaluation); left out.`);
    }
  }
  if (a.recipe.model) note(a.recipe.model.range, 'The model path is given to oneshot(model=...), not the recipe; left out.');
  for (const d of a.recipe.datasets) note(d.range, `Data set \`${d.name}\`: pass it to oneshot(dataset=..., num_calibration_samples=${d.samples}, max_seq_length=${d.seqlen}); left out.`);
  const header = `# converted from ${a.file.replace(/^.*[/\\]/, '')} by qrecipe export-llmc\n`;
  const ydoc = new Document(out);
  // quote N:M strings: YAML 1.1 readers (PyYAML) would read 2:4 as a base-60 integer
  visit(ydoc, { Scalar(_, n) { if (isScalar(n) && typeof n.value === 'string' && /^\d+:\d+$/.test(n.value)) n.type = 'QUOTE_DOUBLE'; } });
  return { text: header + ydoc.toString({ lineWidth: 0 }), diagnostics };
}

function presetOf(p: QuantParams): string | undefined {
  for (const [name, b] of Object.entries(BUILTIN_PRESETS)) {
    if (p.bits === b.bits && p.group === b.group && p.symmetric === b.symmetric && !p.actorder) return name.toUpperCase().replace('-', '_');
  }
  return undefined;
}
