// `qrecipe compare A B [...] [--json] [--runs DIR]`: metric deltas, per-layer differences and the
// recipe diff of two or more runs (ids, unique id prefixes, run folders or `latest`).
import { findRun } from '../../../language-server/core/runs/store';
import { compareRuns, formatComparison } from '../../../language-server/core/runs/compare';
import { parseArgs, withUsage } from '../args';
import { resolveRunsRoot } from '../workspace';

const HELP = `usage: qrecipe compare RUN RUN [RUN ...] [--json] [--runs DIR]

Compares runs: each metric of the original and the compressed models with deltas, the layers
whose bits or sparsity differ, and the diff of the first two recipes.
RUN is a run id, a unique prefix of one, a run folder or 'latest'.
  --json       print the comparison as JSON
  --runs DIR   read runs from DIR instead of <workspace>/.qrecipe/runs`;

export async function main(args: string[]): Promise<number> {
  return withUsage('compare', HELP, async () => {
    const a = parseArgs(args, { flags: ['json', 'help'], options: ['runs'], short: { h: 'help' } });
    if (a.flags.has('help')) { console.log(HELP); return 0; }
    if (a.positionals.length < 2) { console.error(HELP); return 2; }
    const root = resolveRunsRoot({ runs: a.options.get('runs') });
    const records = [];
    for (const key of a.positionals) records.push((await findRun(root, key)).record);
    const c = compareRuns(records);
    console.log(a.flags.has('json') ? JSON.stringify(c, null, 2) : formatComparison(c));
    return 0;
  });
}
