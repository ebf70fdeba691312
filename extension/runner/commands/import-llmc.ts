// `qrecipe import-llmc FILE.yaml [-o out.qrecipe] [--model M.onnx] [--data calib.txt]`: converts an
// llm-compressor recipe; what has no equivalent is reported as QR301 warnings on stderr.
import path from 'node:path';
import { readRecipeText } from '../../../language-server/core/recipe/host';
import { parseArgs, UsageError } from '../args';
import { importLlmc } from '../../../language-server/core/recipe/llmc-import';
import { LineIndex } from '../../../language-server/core/recipe/diagnostics';
import { writeFileAtomic } from '../../../language-server/core/util/atomic';

const HELP = 'usage: qrecipe import-llmc FILE.yaml [-o OUT.qrecipe] [--model MODEL.onnx] [--data CALIB.txt]\n\nConverts an llm-compressor YAML recipe to .qrecipe (stdout without -o).';

export async function main(args: string[]): Promise<number> {
  let a;
  try { a = parseArgs(args, { flags: ['help'], options: ['o', 'out', 'model', 'data'], short: { h: 'help', o: 'out' } }); }
  catch (e) { if (e instanceof UsageError) { console.error(`qrecipe import-llmc: ${e.message}\n\n${HELP}`); return 2; } throw e; }
  if (a.flags.has('help')) { console.log(HELP); return 0; }
  if (a.positionals.length !== 1) { console.error(HELP); return 2; }
  const file = a.positionals[0];
  let text: string;
  try { text = await readRecipeText(file); } catch (e) { console.error(`qrecipe import-llmc: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`); return 2; }
  const out = a.options.get('out') ?? a.options.get('o');
  const rel = (p: string | undefined) => (p && out ? path.relative(path.dirname(path.resolve(out)), path.resolve(p)) : p);
  const r = importLlmc(text, { source: path.basename(file), model: rel(a.options.get('model')), data: rel(a.options.get('data')) });
  const lines = new LineIndex(text);
  for (const d of r.diagnostics) {
    const p = lines.position(d.start);
    console.error(`${file}:${p.line + 1}:${p.character + 1}: ${d.severity} ${d.code}: ${d.message}`);
  }
  if (out) await writeFileAtomic(out, r.text);
  else process.stdout.write(r.text);
  return r.diagnostics.some((d) => d.severity === 'error') ? 1 : 0;
}
