// `qrecipe init [DIR] [--model MODEL]`: a first recipe that runs. Without --model, copies the bundled
// quickstart (a 7 MB byte-level language model with its calibration and held-out text, and the
// recipe that quantises it with 4-bit GPTQ) into DIR; with --model, writes a recipe for that model
// into DIR, its data sets pointing at text files given with --calib/--heldout. Never overwrites a
// file. The extension's "QRecipe: Try the Quickstart" runs this command.
import path from 'node:path';
import { existsSync, mkdirSync, copyFileSync, writeFileSync } from 'node:fs';
import { parseArgs, UsageError, withUsage } from '../args';
import { readInventory } from '../../../language-server/core/model/inventory';
import { scaffoldText } from '../../../language-server/core/recipe/scaffold';

const HELP = `usage: qrecipe init [DIR] [--model MODEL [--calib TEXT] [--heldout TEXT]] [--json]

Writes a first recipe that runs, into DIR (default: ./qrecipe-quickstart):
  (no --model)    the quickstart: a small byte-level language model (model.onnx, 7 MB), its
                  calibration and held-out text (data/), and quickstart.qrecipe, which quantises it
                  with 4-bit GPTQ, measures perplexity, size and KL, and exports a MatMulNBits model
  --model MODEL   a recipe for your own ONNX model (MODEL's folder is DIR's default)
  --calib TEXT    text file to calibrate on (language models), relative to the current folder
  --heldout TEXT  text file to evaluate on (default: the calibration file)
  --json          print {"recipe": PATH, "files": [...]} instead of the next steps
Existing files are never overwritten. Then: qrecipe run DIR/quickstart.qrecipe`;

/** Where the bundled quickstart lives: dist/quickstart beside this bundle (copied there by the build). */
export function quickstartAssets(): string {
  return path.join(__dirname, 'quickstart');
}

/** The files of the quickstart, relative to its folder. */
export const QUICKSTART_FILES = ['quickstart.qrecipe', 'model.onnx', 'data/calib.txt', 'data/heldout.txt'];

/** Copies the quickstart into `dir`; throws naming the first file that exists already. */
export function copyQuickstart(dir: string, from = quickstartAssets()): string[] {
  for (const f of QUICKSTART_FILES) {
    if (!existsSync(path.join(from, f))) throw new Error(`the bundled quickstart is incomplete: ${path.join(from, f)} is missing (rebuild with npm run build:ts)`);
    if (existsSync(path.join(dir, f))) throw new Error(`${path.join(dir, f)} exists already; choose another folder (qrecipe init DIR)`);
  }
  const written: string[] = [];
  for (const f of QUICKSTART_FILES) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    copyFileSync(path.join(from, f), path.join(dir, f));
    written.push(path.join(dir, f));
  }
  return written;
}

export async function main(args: string[]): Promise<number> {
  return withUsage('init', HELP, async () => {
    const a = parseArgs(args, { flags: ['help', 'json'], options: ['model', 'calib', 'heldout'], short: { h: 'help' } });
    if (a.flags.has('help')) { console.log(HELP); return 0; }
    if (a.positionals.length > 1) throw new UsageError('give at most one folder');
    const model = a.options.get('model');
    if (!model && (a.options.has('calib') || a.options.has('heldout'))) throw new UsageError('--calib and --heldout go with --model');
    let recipe: string;
    let files: string[];
    if (!model) {
      const dir = path.resolve(a.positionals[0] ?? 'qrecipe-quickstart');
      files = copyQuickstart(dir);
      recipe = path.join(dir, 'quickstart.qrecipe');
    } else {
      const m = path.resolve(model);
      const dir = path.resolve(a.positionals[0] ?? path.dirname(m));
      recipe = path.join(dir, `${path.basename(m, '.onnx')}.qrecipe`);
      if (existsSync(recipe)) throw new Error(`${recipe} exists already; choose another folder (qrecipe init DIR --model ...)`);
      const rel = (f: string | undefined): string | undefined => f && path.relative(dir, path.resolve(f)).split(path.sep).join('/');
      const text = scaffoldText(await readInventory(m), m, recipe, { calib: rel(a.options.get('calib')), heldout: rel(a.options.get('heldout')) });
      mkdirSync(dir, { recursive: true });
      writeFileSync(recipe, text, { flag: 'wx' });
      files = [recipe];
    }
    if (a.flags.has('json')) console.log(JSON.stringify({ recipe, files }));
    else {
      console.log(`wrote ${files.map((f) => path.relative(process.cwd(), f) || f).join(', ')}`);
      console.log(`next: qrecipe check ${path.relative(process.cwd(), recipe)}   then   qrecipe run ${path.relative(process.cwd(), recipe)}`);
    }
    return 0;
  });
}

