/**
 * The float32 twin of a bfloat16 model, for onnxruntime's CPU provider, which has no bfloat16
 * kernels: every bfloat16 tensor widened to float32 (exact: a bfloat16 is the high half of a
 * float32), every `Cast(to=bfloat16)` made a cast to float32, every declared bfloat16 input,
 * output and value made float32, recursively in subgraphs. The twin computes in float32 what the
 * model computes in bfloat16 (so results differ from a bfloat16 kernel's by its rounding); sessions
 * opened this way say so in their `fallbacks`.
 */
import os from 'node:os';
import path from 'node:path';
import type { AttributeProto, GraphProto, TensorProto, ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import { DataType } from '../../../../language-server/core/model/onnx-schema';
import { bfloat16BitsToFloat32 } from '../../../../language-server/core/model/dtype';
import { loadModel, tensorBytes, type OnnxModel } from '../../../../language-server/core/model/reader';
import { tempPathFor } from '../../../../language-server/core/util/atomic';
import { ModelEditor } from '../model/writer';

const BF16 = DataType.BFLOAT16;
const FLOAT = DataType.FLOAT;

/** True when the model stores or declares any bfloat16 tensor. */
export function hasBfloat16(model: OnnxModel): boolean {
  const g = model.proto.graph ?? {};
  const declared = [...(g.input ?? []), ...(g.output ?? [])].some((v) => v.type?.tensorType?.elemType === BF16);
  return declared || (g.initializer ?? []).some((t) => t.dataType === BF16);
}

function toFloat32Bytes(b: Uint8Array): Uint8Array {
  const v = bfloat16BitsToFloat32(new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  return new Uint8Array(v.buffer);
}

function widenValues(list: ValueInfoProto[] | undefined): void {
  for (const v of list ?? []) if (v.type?.tensorType?.elemType === BF16) v.type.tensorType.elemType = FLOAT;
}

function widenAttribute(model: OnnxModel, a: AttributeProto, inline: (t: TensorProto) => void): void {
  if (a.t) inline(a.t);
  for (const t of a.tensors ?? []) inline(t);
  if (a.g) widenGraph(model, a.g, inline);
  for (const g of a.graphs ?? []) widenGraph(model, g, inline);
}

function widenGraph(model: OnnxModel, g: GraphProto, inline: (t: TensorProto) => void): void {
  widenValues(g.input);
  widenValues(g.output);
  widenValues(g.valueInfo);
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if ((n.opType === 'Cast' || n.opType === 'EyeLike' || n.opType?.startsWith('Random')) && (a.name === 'to' || a.name === 'dtype') && a.i === BF16) a.i = FLOAT;
      widenAttribute(model, a, inline);
    }
  }
}

/**
 * Writes the float32 twin of a bfloat16 model to a temporary file in the OS temp folder (with a
 * side file when it is large) and returns the files written, the model first; the caller removes them.
 */
export async function writeFloat32Twin(file: string): Promise<string[]> {
  const model = await loadModel(file);
  const editor = new ModelEditor(model);
  const g = editor.graph;
  // Attribute tensors (Constant values, ConstantOfShape fills) are small: widened in place.
  const inline = (t: TensorProto): void => {
    if (t.dataType !== BF16) return;
    const bytes = toFloat32Bytes(tensorBytes(model, t));
    for (const k of ['int32Data', 'rawData', 'externalData', 'dataLocation'] as const) delete t[k];
    t.rawData = bytes;
    t.dataType = FLOAT;
  };
  // Initializers are widened as they are written (the original's bytes read then, one at a time).
  for (const t of g.initializer) {
    if (t.dataType !== BF16) continue;
    const orig: TensorProto = { ...t };
    editor.setTensorData(t.name!, () => toFloat32Bytes(tensorBytes(model, orig)), { dtype: 'float32' });
  }
  widenGraph(model, g as GraphProto, inline);
  const twin = tempPathFor(path.join(os.tmpdir(), `${path.basename(file, '.onnx')}.float32-twin.onnx`));
  const saved = await editor.save(twin, { externalLocation: `${path.basename(twin)}.data` });
  return [saved.path, ...(saved.externalPath ? [saved.externalPath] : [])];
}
