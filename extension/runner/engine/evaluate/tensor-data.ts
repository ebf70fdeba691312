/**
 * The one conversion of onnxruntime tensors to and from float32 for every reader of model outputs
 * and activations (evaluation, calibration, sensitivity): float16 and bfloat16 arrive from
 * onnxruntime-node as Uint16Array bit patterns and must be decoded, never read as float32.
 */
import * as ort from 'onnxruntime-node';
import { bfloat16BitsToFloat32, floatToBfloat16, floatToHalf, halfBitsToFloat32 } from '../../../../language-server/core/model/dtype';

export type FloatTensorType = 'float32' | 'float16' | 'bfloat16';

/** The values of a float tensor as float32 (a view for float32, a decoded copy otherwise). */
export function floatData(t: ort.Tensor, what = 'tensor'): Float32Array {
  switch (t.type as string) {
    case 'float32': return t.data as Float32Array;
    case 'float16': return halfBitsToFloat32(asBits(t));
    case 'bfloat16': return bfloat16BitsToFloat32(asBits(t));
    case 'float64': return Float32Array.from(t.data as Float64Array);
    default: throw new Error(`${what} is ${t.type}, not a float tensor`);
  }
}

function asBits(t: ort.Tensor): Uint16Array {
  const d = t.data as unknown as ArrayBufferView;
  return new Uint16Array(d.buffer, d.byteOffset, d.byteLength / 2);
}

/** A tensor of `type` holding `values` (rounded to nearest even for half types). */
export function floatTensor(type: FloatTensorType, values: Float32Array, dims: readonly number[]): ort.Tensor {
  if (type === 'float32') return new ort.Tensor('float32', values, dims);
  const bits = new Uint16Array(values.length);
  const f = type === 'float16' ? floatToHalf : floatToBfloat16;
  for (let i = 0; i < values.length; i++) bits[i] = f(values[i]!);
  return new ort.Tensor(type as 'float16', bits, dims);
}

/** The float type name of an onnxruntime metadata type string, or undefined for other types. */
export function floatTypeOf(type: string | undefined): FloatTensorType | undefined {
  return type === 'float32' || type === 'float16' || type === 'bfloat16' ? type : undefined;
}
