// `qrecipe export-llmc FILE.qrecipe [-o out.yaml]`: writes the llm-compressor equivalent of a recipe;
// what has no equivalent is reported as QR301 warnings on stderr. Refuses recipes with errors.
import path from 'node:path';
import { readRecipeText } from '../../../language-server/core/recipe/host';
import { parseArgs, UsageError } from '../args';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { fileSystemHost } from '../../../language-server/core/recipe/host';
import { exportLlmc } from '../../../language-server/core/recipe/llmc-export';
import { writeFileAtomic } from '../../../language-server/core/util/atomic';

const HELP = 'usage: qrecipe export-llmc FILE.qrecipe [-o OUT.yaml]\n\nConverts a recipe to an llm-compressor YAML recipe (stdout without -o).';

export async function main(args: string[]): Promise<number> {
  let a;
  try { a = parseArgs(args, { flags: ['help'], options: ['out'], short: { h: 'help', o: 'out' } }); }
  catch (e) { if (e instanceof UsageError) { console.error(`qrecipe export-llmc: ${e.message}\n\n${HELP}`); return 2; } throw e; }
  if (a.flags.has('help')) { console.log(HELP); return 0; }
  if (a.positionals.length !== 1) { console.error(HELP); return 2; }
  const file = path.resolve(a.positionals[0]);
  let text: string;
  try { text = await readRecipeText(file); } catch (e) { console.error(`qrecipe export-llmc: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`); return 2; }
  const an = await analyze(file, text, fileSystemHost());
  const shown = a.positionals[0];
  const errors = an.diagnostics.filter((d) => d.severity === 'error' && d.code !== 'QR116');
  for (const d of errors) {
    const p = an.doc.lines.position(d.start);
    console.error(`${shown}:${p.line + 1}:${p.character + 1}: error ${d.code}: ${d.message}`);
  }
  if (errors.length) { console.error(`qrecipe export-llmc: fix the errors first (qrecipe check ${shown}).`); return 1; }
  const r = exportLlmc(an);
  for (const d of r.diagnostics) {
    const p = an.doc.lines.position(d.start);
    console.error(`${shown}:${p.line + 1}:${p.character + 1}: ${d.severity} ${d.code}: ${d.message}`);
  }
  const out = a.options.get('out');
  if (out) await writeFileAtomic(out, r.text);
  else process.stdout.write(r.text);
  return 0;
}
