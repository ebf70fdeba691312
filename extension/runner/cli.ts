// Entry of the `qrecipe` command-line tool and of the runner process the extension spawns.
// Each sub-command lives in commands/<name>.ts and exports `main(args): Promise<number>` (exit code).

// Native calls run on libuv's thread pool (4 threads unless set); compression stages run one layer
// per GPU at once, so a machine with more GPUs needs a larger pool. Read when the pool first starts,
// which is after this line (commands are loaded lazily).
process.env.UV_THREADPOOL_SIZE ??= '16';

import { VERSION } from '../../language-server/core/util/version';

import { userMessage } from '../../language-server/core/util/errors';

type Command = { summary: string; load: () => Promise<{ main(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  // Add sub-commands here, one line each, in alphabetical order.
  check: { summary: 'check a .qrecipe file (syntax, names, files, model layers)', load: () => import('./commands/check') },
  compare: { summary: 'compare runs: metric deltas, per-layer differences, recipe diff', load: () => import('./commands/compare') },
  eval: { summary: 'evaluate an ONNX model: perplexity, accuracy, cer, kl, latency, size', load: () => import('./commands/eval') },
  export: { summary: 'export a run\'s compressed model (MatMulNBits, QDQ or fake-quant ONNX)', load: () => import('./commands/export') },
  'export-llmc': { summary: 'convert a .qrecipe to an llm-compressor YAML recipe', load: () => import('./commands/export-llmc') },
  'import-llmc': { summary: 'convert an llm-compressor YAML recipe to .qrecipe', load: () => import('./commands/import-llmc') },
  grad: { summary: 'gradients of a loss w.r.t. weights (averaged over batches) or inputs/embeddings', load: () => import('./commands/grad') },
  init: { summary: 'write a first recipe that runs: the bundled quickstart, or one for your model', load: () => import('./commands/init') },
  inspect: { summary: 'what an ONNX model holds: float and quantised layers, provenance', load: () => import('./commands/inspect') },
  run: { summary: 'run a recipe end to end (check, calibrate, compress, evaluate, export)', load: () => import('./commands/run') },
  runs: { summary: 'list the runs of the workspace (newest first)', load: () => import('./commands/runs') },
  sensitivity: { summary: 'per-layer sensitivity and LLM-MQ bit allocation of a recipe\'s allocate stage', load: () => import('./commands/sensitivity') },
  spade: { summary: 'SPADE trace of one sample: per-layer pruned trace, saliency, faithfulness', load: () => import('./commands/spade') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length), 4);
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: qrecipe <command> [options]', '', 'commands:', ...lines, '', 'qrecipe <command> --help for the options of one command.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === '--version') {
    console.log(VERSION);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`qrecipe: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).main(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`qrecipe: ${userMessage(err)}`);
    if (process.env.QRECIPE_DEBUG && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);
