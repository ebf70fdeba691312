/**
 * llm-compressor YAML recipe → .qrecipe text. Reads staged (`*_stage: *_modifiers: Modifier: args`)
 * and unstaged (`*_modifiers: Modifier: args`) recipes; every argument without an equivalent gets a
 * QR301 diagnostic at its YAML position and is left out (the output says so in a comment).
 */
import { parseDocument, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import { diag, type Diagnostic } from './diagnostics';
import { format } from './format';
import { quoteString as quote } from './lexer';

export interface ImportOptions {
  /** Model path written in the recipe (default: a placeholder to edit). */
  model?: string;
  /** Calibration text file for methods that need data (default: a placeholder). */
  data?: string;
  /** Name of the source file, for the header comment. */
  source?: string;
}

export interface ConversionResult { text: string; diagnostics: Diagnostic[] }

const PRESETS: Record<string, string> = { W4A16: 'w4a16', W4A16_ASYM: 'w4a16-asym', W8A16: 'w8a16', W8A16_ASYM: 'w8a16-asym' };

/**
 * A target written as a parameter (`…q_proj.weight`, `re:.*q_proj\.weight$`) as the layer it names:
 * QRecipe's layers are named without `.weight`, so such a target would match nothing.
 */
export function layerTarget(t: string): string {
  if (t.startsWith('re:')) return t.replace(/\\?\.weight(\$?)$/, '$1');
  return t.replace(/\.weight$/, '');
}
const ACT_SCHEMES = /^(W\d+A\d+|FP8|NVFP4|MXFP4|INT8)/i;

export function importLlmc(yamlText: string, opts: ImportOptions = {}): ConversionResult {
  const diagnostics: Diagnostic[] = [];
  const doc = parseDocument(yamlText, { prettyErrors: false, uniqueKeys: false });
  for (const e of doc.errors) diagnostics.push(diag('QR302', e.pos[0], e.pos[1], `YAML error: ${e.message.split('\n')[0]}`));
  const lines: string[] = [];
  const stages: string[] = [];
  let needsData = false;
  const span = (n: Node | null | undefined): [number, number] => (n?.range ? [n.range[0], n.range[1]] : [0, 0]);
  const note = (n: Node | null | undefined, message: string): void => { const [s, e] = span(n); diagnostics.push(diag('QR301', s, e, message)); };
  const str = (n: unknown): string | undefined => (isScalar(n) && n.value != null ? String(n.value) : undefined);
  const list = (n: unknown): string[] => (isSeq(n) ? n.items.map((x) => str(x)).filter((x): x is string => x !== undefined) : str(n) !== undefined ? [str(n)!] : []);
  const pct = (f: number): string => `${+(f * 100).toFixed(4)}%`;

  function modifier(name: string, keyNode: Node, args: YAMLMap | undefined): void {
    const get = (k: string): Pair | undefined => args?.items.find((p) => str(p.key) === k) as Pair | undefined;
    const used = new Set<string>(['targets', 'ignore']);
    const body: string[] = [];
    const targets = list(get('targets')?.value).map(layerTarget);
    const ignore = list(get('ignore')?.value).map(layerTarget);
    for (const k of ['targets', 'ignore']) {
      const raw = list(get(k)?.value);
      if (raw.some((t) => layerTarget(t) !== t)) note(get(k)!.value as Node, `${k} names weights (\`.weight\`); QRecipe's layers are named without it: converted to the layer names.`);
    }
    const sel = (): void => {
      if (targets.length) body.push(`targets ${targets.map(quote).join(' ')}`);
      if (ignore.length) body.push(`ignore ${ignore.map(quote).join(' ')}`);
    };
    let header: string;
    if (name === 'GPTQModifier' || name === 'QuantizationModifier') {
      const method = name === 'GPTQModifier' ? 'gptq' : 'rtn';
      header = `quantize ${method}`;
      if (method === 'gptq') needsData = true;
      sel();
      const scheme = get('scheme');
      if (scheme) {
        used.add('scheme');
        const s = str(scheme.value);
        if (s !== undefined) schemeOf(s, scheme.value as Node);
        else if (isMap(scheme.value)) {
          const first = scheme.value.items[0];
          if (first) {
            schemeOf(str(first.key) ?? '', first.key as Node);
            if (!targets.length) body.push(`targets ${list(first.value).map((t) => quote(layerTarget(t))).join(' ')}`);
            if (scheme.value.items.length > 1) note(scheme.value.items[1].key as Node, 'Only the first scheme of a scheme map is converted: split the others into their own quantize stages.');
          }
        }
      }
      const groups = get('config_groups');
      if (groups) {
        used.add('config_groups');
        const gs = isMap(groups.value) ? groups.value.items : [];
        gs.forEach((g, i) => {
          if (i > 0) { note(g.key as Node, 'Only the first config group is converted: write the others as extra quantize stages or overrides.'); return; }
          if (!isMap(g.value)) return;
          const gget = (k: string) => (g.value as YAMLMap).items.find((p) => str(p.key) === k) as Pair | undefined;
          const gt = list(gget('targets')?.value).map(layerTarget);
          if (gt.length && !targets.length) body.push(`targets ${gt.map(quote).join(' ')}`);
          const w = gget('weights');
          if (w && isMap(w.value)) weights(w.value);
          for (const k of ['input_activations', 'output_activations']) {
            const a = gget(k);
            if (a && !(isScalar(a.value) && a.value.value == null)) note(a.key as Node, `${k}: activation quantization has no equivalent (QRecipe quantizes weights only); left out.`);
          }
          for (const p of (g.value as YAMLMap).items) {
            const k = str(p.key);
            if (k && !['targets', 'weights', 'input_activations', 'output_activations', 'format'].includes(k)) note(p.key as Node, `config group key \`${k}\` has no equivalent; left out.`);
          }
        });
      }
      const damp = get('dampening_frac') ?? get('percdamp');
      if (damp) { used.add(str(damp.key)!); const v = Number(str(damp.value)); if (Number.isFinite(v)) body.push(`dampening ${pct(v)}`); }
      const block = get('block_size');
      if (block) { used.add('block_size'); body.push(`block ${Number(str(block.value))}`); }
      const ao = get('actorder');
      if (ao) { used.add('actorder'); actorder(ao.value); }
      if (method === 'rtn') for (const k of ['dampening_frac', 'block_size', 'actorder']) if (get(k)) note(get(k)!.key as Node, `\`${k}\` applies to GPTQ only; QuantizationModifier ignores it.`);
    } else if (name === 'ConstantPruningModifier') {
      // It prunes nothing: it holds the zeros a model already has while fine-tuning. There is no
      // fine-tuning here, and a magnitude stage would prune half of every layer.
      note(keyNode, 'ConstantPruningModifier prunes nothing: it keeps the zeros a model already has while fine-tuning, and QRecipe does not fine-tune; left out.');
      stages.push('# ConstantPruningModifier: keeps existing zeros during fine-tuning; nothing to do here, left out');
      return;
    } else if (name === 'SparseGPTModifier' || name === 'WandaPruningModifier' || name === 'MagnitudePruningModifier') {
      const method = name === 'SparseGPTModifier' ? 'sparsegpt' : name === 'WandaPruningModifier' ? 'wanda' : 'magnitude';
      header = `prune ${method}`;
      if (method !== 'magnitude') needsData = true;
      sel();
      const sp = get('sparsity') ?? get('final_sparsity');
      if (sp) {
        used.add(str(sp.key)!);
        const v = Number(str(sp.value));
        if (Number.isFinite(v)) body.push(`sparsity ${pct(v)}`);
        else note(sp.value as Node, 'Per-layer sparsity maps have no direct equivalent: use `override "pattern" { sparsity ... }`; left out.');
      }
      const ms = get('mask_structure');
      if (ms) {
        used.add('mask_structure');
        const s = str(ms.value) ?? '';
        if (/^\d+:\d+$/.test(s) && s !== '0:0') {
          const [n, m] = s.split(':').map(Number);
          // both count N pruned weights in every M (SparseGPT's prunen:prunem)
          body.push(`pattern ${n}:${m}`);
          const si = body.findIndex((b) => b.startsWith('sparsity'));
          if (si >= 0) {
            if (sp && Math.abs(Number(str(sp.value)) - n / m) > 1e-9) note(sp.key as Node, `sparsity ${str(sp.value)} differs from the ${s} structure (${n}/${m}); QRecipe uses the structure.`);
            body.splice(si, 1);
          }
        } else if (s !== '0:0' && s !== 'unstructured') note(ms.value as Node, `mask_structure ${JSON.stringify(s)} is not N:M; left out.`);
      }
      const damp = get('dampening_frac') ?? get('percdamp');
      if (damp && method === 'sparsegpt') { used.add(str(damp.key)!); body.push(`dampening ${pct(Number(str(damp.value)))}`); }
      const block = get('block_size');
      if (block && method === 'sparsegpt') { used.add('block_size'); body.push(`block ${Number(str(block.value))}`); }
    } else {
      note(keyNode, `${name} has no equivalent in QRecipe (supported: GPTQModifier, QuantizationModifier, SparseGPTModifier, WandaPruningModifier, MagnitudePruningModifier, ConstantPruningModifier); left out.`);
      stages.push(`# ${name}: no equivalent, left out`);
      return;
    }
    for (const p of args?.items ?? []) {
      const k = str(p.key);
      if (k && !used.has(k)) note(p.key as Node, `\`${k}\` of ${name} has no equivalent; left out.`);
    }
    stages.push(`${header} {\n${body.map((b) => `  ${b}`).join('\n')}\n}`);

    function schemeOf(s: string, node: Node): void {
      const up = s.toUpperCase();
      if (PRESETS[up]) body.push(`preset ${PRESETS[up]}`);
      else if (ACT_SCHEMES.test(up)) {
        const m = /^W(\d+)A/.exec(up);
        note(node, `Scheme ${s} quantizes activations too; QRecipe quantizes weights only${m ? `: converted to ${m[1]}-bit weights` : ''}.`);
        if (m) body.push(`bits ${m[1]}  group channel  scheme symmetric`);
      } else note(node, `Scheme ${s} has no equivalent; left out.`);
    }
    function weights(w: YAMLMap): void {
      const wget = (k: string) => w.items.find((p) => str(p.key) === k) as Pair | undefined;
      const bits = wget('num_bits');
      if (bits) body.push(`bits ${str(bits.value)}`);
      const type = str(wget('type')?.value);
      if (type && type !== 'int') note(wget('type')!.value as Node, `Weight type ${type} has no equivalent (integer only).`);
      const strategy = str(wget('strategy')?.value);
      const gsz = str(wget('group_size')?.value);
      if (strategy === 'channel') body.push('group channel');
      else if (gsz !== undefined && gsz !== 'null') body.push(`group ${gsz}`);
      else if (strategy && strategy !== 'group') note(wget('strategy')!.value as Node, `Strategy ${strategy} has no equivalent (group or channel); left out.`);
      const sym = wget('symmetric');
      if (sym) body.push(`scheme ${str(sym.value) === 'true' ? 'symmetric' : 'asymmetric'}`);
      const ao = wget('actorder');
      if (ao) actorder(ao.value);
      for (const p of w.items) {
        const k = str(p.key);
        if (k && !['num_bits', 'type', 'strategy', 'group_size', 'symmetric', 'actorder', 'observer', 'dynamic'].includes(k)) note(p.key as Node, `weights.${k} has no equivalent; left out.`);
        if (k === 'dynamic' && str(p.value) === 'true') note(p.key as Node, 'Dynamic weight quantization has no equivalent; left out.');
      }
    }
    function actorder(v: unknown): void {
      const s = str(v);
      if (s && s !== 'false' && s !== 'null' && s !== 'None') body.push('actorder true');
    }
  }

  function walk(n: unknown, depth: number): void {
    if (!isMap(n) || depth > 4) return;
    for (const p of n.items) {
      const k = str(p.key) ?? '';
      if (/Modifier$/.test(k)) modifier(k, p.key as Node, isMap(p.value) ? p.value : undefined);
      else if (isMap(p.value)) walk(p.value, depth + 1);
      else if (isSeq(p.value) && /modifiers$/.test(k)) {
        for (const it of p.value.items) if (isMap(it)) walk(it, depth + 1);
      } else if (!['version', 'run_type'].includes(k)) note(p.key as Node, `\`${k}\` has no equivalent; left out.`);
    }
  }
  walk(doc.contents, 0);
  if (!stages.length && !doc.errors.length) diagnostics.push(diag('QR302', 0, Math.min(yamlText.length, 1), 'No llm-compressor modifier found (expected e.g. `quant_stage: quant_modifiers: GPTQModifier: ...`).'));

  lines.push(`# converted from ${opts.source ?? 'an llm-compressor recipe'} by qrecipe import-llmc`);
  lines.push(`model ${quote(opts.model ?? 'model.onnx')}${opts.model ? '' : ' # set the path of the ONNX model'}`);
  if (needsData) lines.push(`data calib { text ${quote(opts.data ?? 'calib.txt')} }${opts.data ? '' : ' # set the calibration text'}`);
  lines.push('', ...stages.flatMap((s) => [s, '']));
  const text = lines.join('\n');
  return { text: format(text) ?? text, diagnostics };
}
