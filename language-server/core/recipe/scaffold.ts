/**
 * A first recipe written from a model's layer inventory ("New Recipe from Model", `qrecipe init
 * --model`): the data set kind guessed from the layers (an embedding table means a token model),
 * the largest group size that divides every targeted layer, and the output head left in float as
 * GPTQ's driver does. A token model's data sets point at the text files the caller picked (paths
 * relative to the recipe); without them, and for image models, at placeholders a comment names. The language server serves it
 * (`qrecipe/scaffoldRecipe`), so the extension host never decodes a model.
 */
import path from 'node:path';
import type { LayerInfo, ModelInventory } from '../model/types';
import { formatBytes } from '../util/format';

export interface ScaffoldData {
  /** Calibration and held-out data files, relative to the recipe's folder (forward slashes). */
  calib?: string;
  heldout?: string;
}

/** Whether the model reads token ids (an embedding table): its data sets are text. */
export function isTokenModel(inv: ModelInventory): boolean {
  return inv.layers.some((l) => l.op === 'Gather');
}

export function scaffoldText(inv: ModelInventory, modelPath: string, recipePath: string, data: ScaffoldData = {}): string {
  const rel = (p: string): string => path.relative(path.dirname(recipePath), p).split(path.sep).join('/');
  const linear = inv.layers.filter((l) => l.op === 'MatMul' || l.op === 'Gemm');
  const head = guessHead(inv.layers);
  const targets = linear.filter((l) => l !== head);
  const group = [128, 64, 32, 16].find((g) => targets.every((l) => l.cols % g === 0));
  const tokens = isTokenModel(inv);
  const hasConv = inv.layers.some((l) => l.op === 'Conv');
  const lines = [
    `# Scaffolded from ${path.basename(modelPath)}: ${inv.layers.length} compressible layers, ${formatBytes(inv.totalBytes)} of weights.`,
    `model "${rel(modelPath)}"`,
    '',
  ];
  const calib = data.calib;
  const heldout = data.heldout ?? data.calib;
  if (tokens) {
    if (!calib) lines.push('# Put your own calibration and evaluation text in these two files (plain UTF-8 text).');
    else if (!data.heldout) lines.push('# One text file for both: evaluate on a different file than you calibrate on when you can.');
    lines.push(`data calib { text "${calib ?? 'calib.txt'}"  samples 128  seqlen 256  seed 0 }`);
    lines.push(`data heldout { text "${heldout ?? 'heldout.txt'}"  seqlen 256 }`);
  } else {
    lines.push('# Put your own images and labels here (IDX files with their labels, or a folder of images per class).');
    lines.push('data calib { idx "images-idx3-ubyte.gz" labels "labels-idx1-ubyte.gz"  samples 128  seed 0 }');
    lines.push('data heldout { idx "images-idx3-ubyte.gz" labels "labels-idx1-ubyte.gz" }');
  }
  lines.push('');
  lines.push(`quantize ${targets.length ? 'gptq' : 'rtn'} on calib {`);
  lines.push(`  targets ${targets.length ? '"Linear"' : hasConv ? '"Conv"' : '"*"'}`);
  if (head && targets.length) lines.push(`  ignore "${head.name}"`);
  lines.push(`  bits 4${group ? `  group ${group}` : ''}`);
  lines.push('}');
  lines.push('');
  lines.push(`evaluate { ${tokens ? 'perplexity on heldout  kl on heldout' : 'accuracy on heldout'}  size }`);
  lines.push(`export onnx-matmulnbits "${path.basename(modelPath, '.onnx')}-w4.onnx"`);
  return lines.join('\n') + '\n';
}

/** The output projection: named like a head, else the last MatMul/Gemm of the graph. */
function guessHead(layers: LayerInfo[]): LayerInfo | undefined {
  const linear = layers.filter((l) => l.op === 'MatMul' || l.op === 'Gemm');
  return linear.find((l) => /(^|\.)(lm_head|head|classifier|output)$/.test(l.name)) ?? linear.at(-1);
}
