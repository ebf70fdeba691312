/**
 * Size arithmetic shared by the budget check, the inlay hints and `size` evaluation estimates:
 * bytes of a layer quantized to b bits with fp16 scales (+ packed zero points when asymmetric)
 * per group, plus FP16 outliers stored sparsely (value + int32 column index).
 */
import type { LayerInfo } from '../model/types';

export function groupsOf(l: LayerInfo, group: number | 'channel'): number {
  return group === 'channel' ? l.rows : l.rows * Math.ceil(l.cols / group);
}

export function quantizedBytes(l: LayerInfo, bits: number, group: number | 'channel', symmetric: boolean, outliers = 0): number {
  const codes = (l.params * bits) / 8;
  const meta = groupsOf(l, group) * (2 + (symmetric ? 0 : bits / 8));
  return codes + meta + outliers * l.params * 6;
}

/** Bits per element of an ONNX dtype name (32 when unknown). */
export function dtypeBits(dtype: string): number {
  const m = /(\d+)/.exec(dtype);
  return m ? Number(m[1]) : 32;
}
