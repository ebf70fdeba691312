/** The unfolding geometry (kernel, strides, dilations, pads) of a convolution layer's node. */
import type { NodeProto } from '../../../../language-server/core/model/onnx-proto';
import type { ConvGeometry } from './im2col';
import type { LayerInfo } from '../../../../language-server/core/model/types';

function ints(n: NodeProto, name: string): number[] | undefined {
  return n.attribute?.find((a) => a.name === name)?.ints?.map(Number);
}

export function convGeometry(nodes: NodeProto[], layer: LayerInfo): ConvGeometry {
  const node = nodes.find((n) => (n.name ?? '') === layer.nodeName && n.opType === 'Conv' && n.input?.[0] === layer.inputName);
  if (!node) throw new Error(`layer '${layer.name}': its Conv node '${layer.nodeName}' was not found`);
  const r = layer.kernel?.length ?? 0;
  if (r < 1 || r > 2) throw new Error(`layer '${layer.name}': ${r}-D convolution; only 1-D and 2-D are unfolded`);
  const pad = node.attribute?.find((a) => a.name === 'auto_pad')?.s;
  return {
    kernel: layer.kernel!,
    strides: ints(node, 'strides') ?? new Array<number>(r).fill(1),
    dilations: ints(node, 'dilations') ?? new Array<number>(r).fill(1),
    pads: ints(node, 'pads') ?? new Array<number>(2 * r).fill(0),
    autoPad: pad ? new TextDecoder().decode(pad) : 'NOTSET',
  };
}
