// A deployable export folder: the Hugging Face / onnxruntime-genai files beside the source model
// (config.json, generation_config.json, tokenizer files, genai_config.json) are copied beside the
// export, genai_config.json pointing at the exported file, so the folder opens in
// onnxruntime-genai and the AI Toolkit playground; and a README.md says what was done (recipe,
// metrics, hashes). Nothing of the user's is overwritten: a file already there with other content
// is left as it is, with a warning (a genai_config.json or README.md an earlier QRecipe export
// wrote is replaced).
import { readRegularFile } from '../../../language-server/core/util/regular-file';
import { MAX_DATA_FILE_BYTES } from '../../../language-server/core/util/limits';
import path from 'node:path';
import { existsSync, promises as fs } from 'node:fs';
import { writeFileAtomic } from '../../../language-server/core/util/atomic';
import type { ExportRecord, Metrics } from '../../../language-server/core/protocol/runner';
import { listedKeys, measuredKey, metricInfo } from '../../../language-server/core/format/metrics';

/** Files of a Hugging Face / genai model folder that a deployable export carries along. */
export const COMPANION_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'added_tokens.json', 'chat_template.jinja', 'tokenizer.model', 'vocab.json', 'merges.txt', 'vocab.txt',
];
export const GENAI_CONFIG = 'genai_config.json';
export const README = 'README.md';
const README_MARK = '<!-- written by QRecipe: what was done to make this model -->';

/** What the README says about the run that made the export. */
export interface Provenance {
  runId?: string;
  recipePath: string;
  recipeText: string;
  recipeHash: string;
  modelPath: string;
  modelHash: string;
  qrecipeVersion?: string;
  metrics: { original?: Metrics; compressed?: Metrics };
  /** One line per compression stage, e.g. "gptq 4 bit, group 32 on 14 layers". */
  stages: string[];
}

export interface DeployResult {
  /** Files written into the export's folder (copied, genai_config.json, README.md), by name. */
  written: string[];
  warnings: string[];
}

/** A companion or existing file's bytes: a regular file only (a model folder is untrusted: no FIFO, no /dev/zero). */
async function readPlain(file: string): Promise<Uint8Array> {
  return readRegularFile(file, MAX_DATA_FILE_BYTES, 'companion file');
}

async function sameContent(file: string, data: Uint8Array): Promise<boolean> {
  try {
    const cur = await readPlain(file);
    return cur.length === data.length && cur.every((b, i) => b === data[i]);
  } catch {
    return false;
  }
}

/** genai_config.json of the source with `model.decoder.filename` set to the exported file. */
export function retargetGenaiConfig(text: string, exportFile: string, source: string): string {
  let cfg: { model?: { decoder?: { filename?: string } } };
  try {
    cfg = JSON.parse(text) as typeof cfg;
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (!cfg.model?.decoder || typeof cfg.model.decoder !== 'object') throw new Error(`${source}: no model.decoder section to point at the export`);
  cfg.model.decoder.filename = exportFile;
  return `${JSON.stringify(cfg, null, 4)}\n`;
}

const fmt = (v: number | undefined): string => (v === undefined ? '' : Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(6));

/** The README text (markdown). */
export function readmeText(exportPath: string, rec: ExportRecord, exportHash: string, p: Provenance | undefined, files: { name: string; hash: string }[]): string {
  const name = path.basename(exportPath);
  const lines = [README_MARK, `# ${name}`, ''];
  if (p) {
    lines.push(`Compressed with QRecipe${p.qrecipeVersion ? ` ${p.qrecipeVersion}` : ''}${p.runId ? ` (run \`${p.runId}\`)` : ''} from \`${p.modelPath}\``,
      `(sha256 \`${p.modelHash}\`) by the recipe \`${p.recipePath}\` (sha256 \`${p.recipeHash}\`).`, '');
    if (p.stages.length) lines.push('What was done:', '', ...p.stages.map((s) => `- ${s}`), '');
    const keys = listedKeys(p.metrics.original, p.metrics.compressed);
    if (keys.length) {
      const exported = rec.check ? { [rec.check.metric]: rec.check.exported, [measuredKey(rec.check.metric, rec.check.dataset)]: rec.check.exported } : {};
      lines.push('| metric | original | compressed (fake quant) | this export |', '|---|---:|---:|---:|');
      for (const k of keys) {
        const o = (p.metrics.original as Record<string, number> | undefined)?.[k];
        const c = (p.metrics.compressed as Record<string, number> | undefined)?.[k];
        lines.push(`| ${metricInfo(k).label} | ${fmt(o)} | ${fmt(c)} | ${fmt((exported as Record<string, number>)[k])} |`);
      }
      lines.push('');
    }
  }
  const enc = new Map<string, number>();
  for (const l of rec.layers ?? []) enc.set(l.encoding, (enc.get(l.encoding) ?? 0) + 1);
  lines.push('## Export', '',
    `- format \`${rec.format}\`, ${rec.bytes.toLocaleString('en-US')} bytes, sha256 \`${exportHash}\``,
    `- loads in onnxruntime: ${rec.verified ? 'yes (checked after writing, same inputs and outputs as the source)' : 'NOT VERIFIED'}`);
  if (rec.layers?.length) lines.push(`- quantised layers: ${rec.layers.length} (${[...enc].map(([e, n]) => `${n} ${e}`).join(', ')}), ${fmt(rec.bitsPerWeight)} bits per weight with scales and zero points`);
  if (rec.check) lines.push(`- ${rec.check.metric}${rec.check.dataset ? ` on ${rec.check.dataset}` : ''} of this file ${fmt(rec.check.exported)} vs the fake-quant ${fmt(rec.check.fakeQuant)} (${rec.check.ok ? 'within' : 'OUTSIDE'} 1%)`);
  lines.push('');
  if (files.length) lines.push('## Files', '', ...files.map((f) => `- \`${f.name}\` sha256 \`${f.hash}\``), '');
  if (p) lines.push('## Recipe', '', '```qrecipe', p.recipeText.trimEnd(), '```', '');
  return lines.join('\n');
}

/**
 * Copies the companion files of `sourceModel`'s folder beside `exportPath`, writes the retargeted
 * genai_config.json and the README. `hash` gives a file's sha256 (streamed by the caller's helper).
 */
export async function writeDeployFolder(o: {
  exportPath: string; sourceModel: string; record: ExportRecord; provenance?: Provenance; hash: (file: string) => Promise<string>;
}): Promise<DeployResult> {
  const src = path.dirname(path.resolve(o.sourceModel));
  const dst = path.dirname(path.resolve(o.exportPath));
  const written: string[] = [];
  const warnings: string[] = [];
  const put = async (name: string, data: Uint8Array, replaceable?: (existing: string) => boolean): Promise<void> => {
    const target = path.join(dst, name);
    if (existsSync(target) && !(await sameContent(target, data))) {
      const existing = await readPlain(target).then((b) => new TextDecoder().decode(b), () => '');
      if (!replaceable?.(existing)) {
        warnings.push(`${target} already exists with other content: left as it is (the export's ${name} was not written)`);
        return;
      }
    }
    await writeFileAtomic(target, data);
    written.push(name);
  };
  if (src !== dst) {
    for (const name of COMPANION_FILES) {
      const from = path.join(src, name);
      if (!existsSync(from)) continue;
      let data: Uint8Array;
      try { data = await readPlain(from); } catch (err) { warnings.push(`${from}: not copied beside the export (${err instanceof Error ? err.message : String(err)})`); continue; }
      await put(name, data);
    }
  }
  const genai = path.join(src, GENAI_CONFIG);
  if (existsSync(genai) && src === dst) {
    warnings.push(`the export is in the source model's folder: ${GENAI_CONFIG} there still names the source model`);
  } else if (existsSync(genai)) {
    const text = retargetGenaiConfig(new TextDecoder().decode(await readPlain(genai)), path.basename(o.exportPath), genai);
    // An earlier export of the same model differs only in the decoder's file name: replaceable.
    const same = (existing: string): boolean => {
      try { return retargetGenaiConfig(existing, path.basename(o.exportPath), GENAI_CONFIG) === text; } catch { return false; }
    };
    await put(GENAI_CONFIG, new TextEncoder().encode(text), same);
  }
  const files: { name: string; hash: string }[] = [];
  for (const name of [path.basename(o.exportPath), ...written]) files.push({ name, hash: await o.hash(path.join(dst, name)) });
  const readme = readmeText(o.exportPath, o.record, files[0]!.hash, o.provenance, files);
  // One README per folder, unless other models live there: then one per export.
  const others = (await fs.readdir(dst)).some((f) => f.endsWith('.onnx') && f !== path.basename(o.exportPath));
  const readmeName = others ? `${path.basename(o.exportPath, '.onnx')}.${README}` : README;
  await put(readmeName, new TextEncoder().encode(readme), (existing) => existing.startsWith(README_MARK));
  return { written, warnings };
}
