// `qrecipe runs [--json] [--runs DIR]`: the runs of the current workspace, newest first. Runs whose
// process died (crash, kill -9) are reported, and written back, as failed (only reported when the
// store is reached through a link out of the workspace: nothing is written through it); folders
// whose run.json cannot be used are listed as broken with the reason, after the others.
import { scanRuns, sweepStore } from '../../../language-server/core/runs/store';
import { storeOutsideWorkspace } from '../../../language-server/core/util/confine';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { parseArgs, withUsage } from '../args';
import { listedKeys, splitMeasuredKey } from '../../../language-server/core/format/metrics';
import { resolveRunsRoot } from '../workspace';

const HELP = `usage: qrecipe runs [--json] [--runs DIR]

Lists the runs of the workspace (the nearest folder above the current one holding .git,
package.json or .qrecipe), newest first: id, status, recipe, main metrics. A run whose
run.json cannot be used (not JSON, wrong fields, unreadable) is listed as broken, with why.
  --json       print [{ dir, record }] as JSON; broken runs as { dir, id, broken: reason }
  --runs DIR   read runs from DIR instead of <workspace>/.qrecipe/runs`;

/** A record's text on one terminal line: control characters (a crafted record may hold escapes) shown as spaces. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 300);
}

function headline(r: RunRecord): string {
  const c = r.metrics.compressed ?? {};
  const o = r.metrics.original ?? {};
  // every data set of the main metrics (`cer on tune`, `cer on heldout`), as recorded
  const keys = listedKeys(c).filter((k) => ['perplexity', 'accuracy', 'cer'].includes(splitMeasuredKey(k).metric));
  const name = (k: string): string => { const { metric, dataset } = splitMeasuredKey(k); return dataset === undefined ? metric : `${metric} on ${oneLine(dataset)}`; };
  return keys.map((k) => `${name(k)} ${o[k] !== undefined ? `${o[k]!.toPrecision(5)} -> ` : ''}${c[k]!.toPrecision(5)}`).join(', ');
}

export async function main(args: string[]): Promise<number> {
  return withUsage('runs', HELP, async () => {
    const a = parseArgs(args, { flags: ['json', 'help'], options: ['runs'], short: { h: 'help' } });
    if (a.flags.has('help')) { console.log(HELP); return 0; }
    if (a.positionals.length) { console.error(HELP); return 2; }
    const root = resolveRunsRoot({ runs: a.options.get('runs') });
    await sweepStore(root); // what runners killed mid-write left behind
    const link = storeOutsideWorkspace(root);
    if (link) console.error(`qrecipe runs: ${link.message}; nothing is written there (runs whose process is gone are shown as failed, not marked)`);
    const { runs, broken } = await scanRuns(root, { repair: true });
    if (a.flags.has('json')) { console.log(JSON.stringify([...runs, ...broken.map((b) => ({ dir: b.dir, id: b.id, broken: b.reason }))], null, 2)); return 0; }
    if (!runs.length && !broken.length) { console.log(`no runs in ${root}`); return 0; }
    for (const { record: r } of runs) {
      const secs = r.endedAt ? ` ${((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000).toFixed(0)} s` : '';
      console.log(`${oneLine(r.id).padEnd(40)} ${r.status.padEnd(10)}${secs.padStart(7)}  ${headline(r)}${r.error ? `  (${oneLine(r.error)})` : ''}`);
    }
    for (const b of broken) console.log(`${oneLine(b.id).padEnd(40)} ${'broken'.padEnd(10)}${''.padStart(7)}  ${oneLine(b.reason)}`);
    return 0;
  });
}
