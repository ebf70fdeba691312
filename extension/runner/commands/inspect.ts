// `qrecipe inspect MODEL [--json]`: the layer inventory of an ONNX model as a table or JSON.
import { formatBytes } from '../../../language-server/core/util/format';
import { readInventory } from '../../../language-server/core/model/inventory';
import type { ModelInventory } from '../../../language-server/core/model/types';

const HELP = `usage: qrecipe inspect MODEL [--json]

Lists the compressible layers of an ONNX model (MatMul, Gemm, Conv, Gather embeddings):
name, op, stored shape, rows x cols (out x in), parameters and bytes, with totals and opset.
  --json   print the inventory as JSON`;


export function formatInventory(inv: ModelInventory): string {
  const head = ['layer', 'op', 'shape', 'rows x cols', 'dtype', 'params', 'bytes'];
  const rows = inv.layers.map((l) => [
    l.name, l.op + (l.groups && l.groups > 1 ? `/g${l.groups}` : ''), l.shape.join('x'), `${l.rows} x ${l.cols}`,
    l.dtype, l.params.toLocaleString('en-US'), formatBytes(l.bytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const right = new Set([5, 6]);
  const fmt = (r: string[]): string => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const tied = new Map<string, string[]>();
  for (const l of inv.layers) if (l.sharedWith?.length) tied.set(l.tensorName, [...(tied.get(l.tensorName) ?? []), l.name]);
  return [
    `${inv.path}  (opset ${inv.opset})`,
    '',
    fmt(head),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...rows.map(fmt),
    '',
    `${inv.layers.length} compressible layers: ${inv.layerParams.toLocaleString('en-US')} params, ${formatBytes(inv.layerBytes)}${tied.size ? ` (tied weights counted once)` : ''}`,
    `all weights: ${inv.totalParams.toLocaleString('en-US')} params, ${formatBytes(inv.totalBytes)}`,
    ...[...tied].map(([t, names]) => `tied: ${names.join(' = ')} (one tensor, ${t})`),
  ].join('\n');
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { console.log(HELP); return 0; }
  const json = args.includes('--json');
  const files = args.filter((a) => !a.startsWith('--'));
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--json');
  if (files.length !== 1 || unknown.length) {
    console.error(unknown.length ? `qrecipe inspect: unknown option ${unknown[0]}\n\n${HELP}` : HELP);
    return 2;
  }
  const inv = await readInventory(files[0]!);
  console.log(json ? JSON.stringify(inv, null, 2) : formatInventory(inv));
  return 0;
}
