// `qrecipe check FILE [--json]`: the language server's diagnostics from the command line.
// Prints `file:line:col: severity code: message` (or a JSON array); exit 1 when there are errors.
import { parseArgs, UsageError } from '../args';
import { checkFile, formatRecord } from '../../../language-server/core/recipe/check';
import { readInventory } from '../../../language-server/core/model/inventory';
import { MAX_DIAGNOSTICS_SHOWN } from '../../../language-server/core/util/limits';
import path from 'node:path';
import { resolveRunsRoot } from '../workspace';

const HELP = 'usage: qrecipe check FILE.qrecipe [--json]\n\nChecks a recipe (syntax, names, files, and the model\'s layers when the model file exists).';

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { flags: ['json', 'help'], short: { h: 'help' } });
  } catch (e) {
    if (e instanceof UsageError) { console.error(`qrecipe check: ${e.message}\n\n${HELP}`); return 2; }
    throw e;
  }
  if (parsed.flags.has('help')) { console.log(HELP); return 0; }
  if (parsed.positionals.length !== 1) { console.error(HELP); return 2; }
  const file = parsed.positionals[0];
  let result;
  try {
    // export paths are checked as `run` will: inside the recipe's folder, not into the workspace's run store
    result = await checkFile(file, (p) => readInventory(p), { root: path.dirname(path.resolve(file)), runsRoot: resolveRunsRoot({ recipe: file }) });
  } catch (e) {
    console.error(`qrecipe check: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const { records } = result;
  // a file of junk can have a million problems: the first ones are enough to act on, the rest are counted
  const shown = records.slice(0, MAX_DIAGNOSTICS_SHOWN);
  if (parsed.flags.has('json')) console.log(JSON.stringify(shown.map(({ code, severity, range, message }) => ({ code, severity, range, message })), null, 2));
  else {
    for (const r of shown) console.log(formatRecord(r, file));
    const errors = records.filter((r) => r.severity === 'error').length;
    const warnings = records.filter((r) => r.severity === 'warning').length;
    const more = records.length - shown.length;
    console.error(`${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}${more ? ` (the first ${shown.length} shown, ${more.toLocaleString('en-US')} more not printed)` : ''}`);
  }
  if (records.length > shown.length && parsed.flags.has('json')) console.error(`${file}: ${records.length.toLocaleString('en-US')} problems, the first ${shown.length} printed`);
  return records.some((r) => r.severity === 'error') ? 1 : 0;
}
