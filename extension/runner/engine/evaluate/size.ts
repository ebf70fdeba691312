/**
 * File size and bits per weight. Logical parameter counts: float/int weights count their elements;
 * a MatMulNBits B operand counts K·N (its packed bytes and scales/zero points count as bytes only);
 * DequantizeLinear scales and zero points count as bytes only. With a reference model, bits per
 * weight divide by the reference's parameter count instead.
 */
import { statSync } from 'node:fs';
import { loadModel, graphTensors, tensorElements, isExternal, externalRef, type OnnxModel } from '../../../../language-server/core/model/reader';
import { attrInt } from '../../../../language-server/core/model/graph';
import { isWeightType, storageBytes } from '../../../../language-server/core/model/dtype';
import type { EvalResult } from './result';

export interface SizeInfo { fileBytes: number; weightBytes: number; params: number; externalFiles: string[] }

export function sizeOf(model: OnnxModel): SizeInfo {
  const bytesOnly = new Set<string>();
  const logical = new Map<string, number>();
  for (const n of model.proto.graph?.node ?? []) {
    const ins = n.input ?? [];
    if (n.opType === 'MatMulNBits') {
      if (ins[1]) logical.set(ins[1], attrInt(n, 'K', 0) * attrInt(n, 'N', 0));
      for (const x of ins.slice(2)) if (x) bytesOnly.add(x);
    } else if (n.opType === 'DequantizeLinear') {
      for (const x of ins.slice(1)) if (x) bytesOnly.add(x);
    }
  }
  let weightBytes = 0;
  let params = 0;
  const external = new Set<string>();
  for (const { tensor, node } of graphTensors(model)) {
    const name = node?.output?.[0] ?? tensor.name ?? '';
    const n = tensorElements(tensor);
    if (isExternal(tensor)) external.add(externalRef(model, tensor).file);
    if (!isWeightType(tensor.dataType) && !logical.has(name)) continue;
    weightBytes += storageBytes(tensor.dataType, n);
    if (bytesOnly.has(name)) continue;
    params += logical.get(name) ?? n;
  }
  const fileBytes = model.fileBytes + [...external].reduce((a, f) => a + statSync(f).size, 0);
  return { fileBytes, weightBytes, params, externalFiles: [...external] };
}

export async function evaluateSize(model: string, reference?: string): Promise<EvalResult> {
  const t0 = performance.now();
  const s = sizeOf(await loadModel(model));
  const ref = reference ? sizeOf(await loadModel(reference)) : undefined;
  const params = ref?.params ?? s.params;
  const m = process.memoryUsage();
  return {
    metric: 'size', value: s.fileBytes,
    details: {
      fileBytes: s.fileBytes, weightBytes: s.weightBytes, params, bitsPerWeight: (8 * s.weightBytes) / params,
      fileBitsPerWeight: (8 * s.fileBytes) / params, ...(ref ? { referenceFileBytes: ref.fileBytes, compression: ref.fileBytes / s.fileBytes } : {}),
    },
    samples: 1, seconds: (performance.now() - t0) / 1000, peakRssMB: Math.round(m.rss / 1048576), peakArrayBuffersMB: Math.round(m.arrayBuffers / 1048576),
  };
}
