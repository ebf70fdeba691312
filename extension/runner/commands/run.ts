// `qrecipe run FILE.qrecipe [--device auto|cpu|cuda] [--json-events] [--runs DIR] [--workspace DIR]
// [--allow-outside] [--force]`: runs a recipe end to end in this process (the extension spawns the
// same command with --json-events).
import type { Device } from '../../../native/index';
import { parseArgs, UsageError, withUsage } from '../args';
import { isProviderChoice, PROVIDER_CHOICES } from '../engine/evaluate/session';
import { createSink } from '../events';
import { listenForCancel } from '../cancel';
import { resolveRunsRoot } from '../workspace';
import { runRecipe, type RunOptions } from '../pipeline/run-recipe';
import { findRun } from '../../../language-server/core/runs/store';
import path from 'node:path';
import { WRITE_FLAGS, WRITE_FLAGS_HELP, writeOptions } from '../write-policy';

const HELP = `usage: qrecipe run FILE.qrecipe [--device auto|cpu|cuda] [--provider auto|cpu|webgpu|cuda|native] [--json-events] [--runs DIR]
                   [--workspace DIR] [--allow-outside] [--force]
       qrecipe run --rerun RUN [--device ...] [--provider ...] [--json-events] [--runs DIR] [--workspace DIR] [--allow-outside] [--force]

Checks the recipe (errors stop it before any compute), then loads the model, calibrates,
prunes, quantizes, evaluates the original and the compressed model and exports, as the
recipe says. The run is recorded in <workspace>/.qrecipe/runs/<time>-<recipe>/ (run.json,
run.log, the compressed model, quant.bin). Ctrl+C, or a {"type":"cancel"} line on stdin,
stops it cleanly; the run is then recorded as cancelled. The recipe's export path must stay
inside the workspace (the recipe's folder unless --workspace says), must not be an input or in
the run store, and replaces an existing file only if it is an earlier export of these runs:
otherwise nothing is run.
  --device D      where the compression math runs: auto (default), cpu or cuda
  --provider P    where the forward passes run (calibration, evaluation): auto (default: on a
                  CUDA GPU the addon's graph executor runs the blocks it supports; onnxruntime
                  on WebGPU or CUDA when they open, else the CPU; said in the log), cpu, webgpu
                  or cuda (onnxruntime), native (the graph executor for every block it supports,
                  on the CPU when there is no GPU); also QRECIPE_EXECUTION_PROVIDER
  --force         replace files already at the recipe's export paths (without it, such a file
                  stops the run before any compute: QR401; earlier runs keep their own copies)
  --json-events   one JSON event per line on stdout (the runner protocol)
  --runs DIR      store the run under DIR instead of the workspace's .qrecipe/runs
  --rerun RUN     run again the recipe RUN stored (its text and imports as they were, at the
                  recipe's path so relative paths resolve the same), not the file as it is now;
                  RUN is a run id, a unique prefix of one, a run folder or 'latest'; writes stay
                  inside the current folder unless --workspace says (the record names the recipe's
                  folder, and a record is not trusted to choose where a run writes)
${WRITE_FLAGS_HELP}`;

export async function main(args: string[]): Promise<number> {
  return withUsage('run', HELP, async () => {
    const a = parseArgs(args, { flags: ['json-events', 'help', ...WRITE_FLAGS], options: ['device', 'runs', 'provider', 'rerun', 'workspace'], short: { h: 'help' } });
    if (a.flags.has('help')) { console.log(HELP); return 0; }
    const rerunKey = a.options.get('rerun');
    if (a.positionals.length !== (rerunKey ? 0 : 1)) throw new UsageError(rerunKey ? '--rerun takes the run, not a recipe file' : 'give exactly one recipe file');
    const device = (a.options.get('device') ?? 'auto') as Device;
    if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`--device must be auto, cpu or cuda, not '${device}'`);
    const provider = a.options.get('provider');
    if (provider !== undefined) {
      if (!isProviderChoice(provider)) throw new UsageError(`--provider must be ${PROVIDER_CHOICES.join(', ')}, not '${provider}'`);
      // onnxruntime sessions of this process take their provider from here (engine/evaluate/session.ts)
      process.env.QRECIPE_EXECUTION_PROVIDER = provider;
    }
    let rerun: RunOptions['rerun'];
    let recipe = a.positionals[0]!;
    let runsRoot = resolveRunsRoot({ runs: a.options.get('runs'), recipe });
    if (rerunKey) {
      const { dir, record } = await findRun(resolveRunsRoot({ runs: a.options.get('runs') }), rerunKey);
      recipe = record.recipePath;
      runsRoot = path.dirname(dir); // the new run goes beside the one it re-runs
      rerun = { of: record.id, stored: { text: record.recipeText, imports: record.importTexts ?? {} }, modelHash: record.modelHash };
    }
    const json = a.flags.has('json-events');
    const cancel = listenForCancel({ stdin: json });
    try {
      return await runRecipe({
        recipe, device, runsRoot,
        sink: createSink({ json }), signal: cancel.signal, ...(rerun ? { rerun } : {}), write: { ...(rerun ? { workspace: process.cwd() } : {}), ...writeOptions(a) },
      });
    } finally {
      cancel.dispose();
    }
  });
}
