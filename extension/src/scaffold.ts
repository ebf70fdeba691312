// "New Recipe from Model": a first recipe written from the model's layer inventory — the data set
// kind guessed from the layers (an embedding table means a token model), the largest group size that
// divides every targeted layer, and the output head left in float as GPTQ's driver does.
import path from 'node:path';
import { readInventory } from '../../language-server/core/model/inventory';
import type { LayerInfo } from '../../language-server/core/model/types';

export async function scaffoldRecipe(modelPath: string, recipePath: string): Promise<string> {
  const inv = await readInventory(modelPath);
  const rel = path.relative(path.dirname(recipePath), modelPath).split(path.sep).join('/');
  const linear = inv.layers.filter((l) => l.op === 'MatMul' || l.op === 'Gemm');
  const head = guessHead(inv.layers);
  const targets = linear.filter((l) => l !== head);
  const group = [128, 64, 32, 16].find((g) => targets.every((l) => l.cols % g === 0));
  const isTokenModel = inv.layers.some((l) => l.op === 'Gather');
  const hasConv = inv.layers.some((l) => l.op === 'Conv');
  const mib = (inv.totalBytes / 2 ** 20).toFixed(2);
  const lines = [
    `# Scaffolded from ${path.basename(modelPath)}: ${inv.layers.length} compressible layers, ${mib} MiB of weights.`,
    `model "${rel}"`,
    '',
  ];
  if (isTokenModel) {
    lines.push('# Replace the text files with your own calibration and evaluation text.');
    lines.push('data calib { text "calib.txt"  samples 128  seqlen 256  seed 0 }');
    lines.push('data heldout { text "heldout.txt"  seqlen 256 }');
  } else {
    lines.push('# Replace with your own images and labels (idx files or a folder of images).');
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
  lines.push(`evaluate { ${isTokenModel ? 'perplexity on heldout  kl on heldout' : 'accuracy on heldout'}  size }`);
  lines.push(`export onnx-matmulnbits "${path.basename(modelPath, '.onnx')}-w4.onnx"`);
  return lines.join('\n') + '\n';
}

/** The output projection: named like a head, else the last MatMul/Gemm of the graph. */
function guessHead(layers: LayerInfo[]): LayerInfo | undefined {
  const linear = layers.filter((l) => l.op === 'MatMul' || l.op === 'Gemm');
  return linear.find((l) => /(^|\.)(lm_head|head|classifier|output)$/.test(l.name)) ?? linear.at(-1);
}
