// `qrecipe inspect MODEL [--json]`: what a model holds — its compressible float layers, the quantised
// layers of a compressed export (MatMulNBits, DequantizeLinear, Cast/Sub/Mul with bits, group and
// bytes) and the provenance QRecipe wrote into it — as a table or JSON. The same summary the
// language server gives the Models view and Inspect Model (core/model/summary.ts).
import { loadModel } from '../../../language-server/core/model/reader';
import { formatModelSummary, summarizeModel } from '../../../language-server/core/model/summary';

const HELP = `usage: qrecipe inspect MODEL [--json]

Lists what an ONNX model holds: its compressible layers (MatMul, Gemm, Conv, Gather embeddings:
name, op, stored shape, rows x cols (out x in), parameters and bytes), the quantised layers of a
compressed model (encoding, bits, group size, bytes) and where a QRecipe export came from
(source model, recipe, run).
  --json   print the summary as JSON (path, opset, layers, quantized, totals, metadata)`;

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { console.log(HELP); return 0; }
  const json = args.includes('--json');
  const files = args.filter((a) => !a.startsWith('--'));
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--json');
  if (files.length !== 1 || unknown.length) {
    console.error(unknown.length ? `qrecipe inspect: unknown option ${unknown[0]}\n\n${HELP}` : HELP);
    return 2;
  }
  const summary = summarizeModel(await loadModel(files[0]!));
  console.log(json ? JSON.stringify(summary, null, 2) : formatModelSummary(summary));
  return 0;
}
