/**
 * A minimal ONNX protobuf writer for the native tests (one node graphs), so the MatMulNBits packing
 * can be checked by onnxruntime-node without depending on the project's ONNX writer.
 * Field numbers from onnx.proto: ModelProto{ir_version=1, graph=7, opset_import=8},
 * GraphProto{node=1, name=2, initializer=5, input=11, output=12}, NodeProto{input=1, output=2,
 * name=3, op_type=4, attribute=5, domain=7}, AttributeProto{name=1, i=3, type=20},
 * TensorProto{dims=1, data_type=2, name=8, raw_data=9}, ValueInfoProto{name=1, type=2},
 * TypeProto{tensor_type=1}, TypeProto.Tensor{elem_type=1, shape=2}, TensorShapeProto{dim=1},
 * Dimension{dim_value=1}.
 */

class Writer {
  private bytes: number[] = [];
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.bytes.push(b);
    } while (x);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytesField(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.bytes.push(x);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  msg(field: number, w: Writer): this {
    return this.bytesField(field, w.done());
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export const ELEM = { float: 1, uint8: 2, int8: 3 } as const;

export interface Tensor {
  name: string;
  type: number;
  dims: number[];
  data: Uint8Array;
}

export interface Io {
  name: string;
  type: number;
  dims: number[];
}

export interface NodeSpec {
  op: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number>;
}

function valueInfo(io: Io): Writer {
  const shape = new Writer();
  for (const d of io.dims) shape.msg(1, new Writer().int(1, d));
  const tensorType = new Writer().int(1, io.type).msg(2, shape);
  return new Writer().str(1, io.name).msg(2, new Writer().msg(1, tensorType));
}

/** Serialises a one-node model. */
export function buildModel(node: NodeSpec, inits: Tensor[], inputs: Io[], outputs: Io[], opsets: Record<string, number>): Uint8Array {
  const n = new Writer();
  for (const i of node.inputs) n.str(1, i);
  for (const o of node.outputs) n.str(2, o);
  n.str(3, 'node0').str(4, node.op);
  for (const [k, v] of Object.entries(node.ints ?? {})) n.msg(5, new Writer().str(1, k).int(3, v).int(20, 2));
  if (node.domain) n.str(7, node.domain);
  const g = new Writer().msg(1, n).str(2, 'g');
  for (const t of inits) {
    const tw = new Writer();
    for (const d of t.dims) tw.int(1, d);
    tw.int(2, t.type).str(8, t.name).bytesField(9, t.data);
    g.msg(5, tw);
  }
  for (const i of inputs) g.msg(11, valueInfo(i));
  for (const o of outputs) g.msg(12, valueInfo(o));
  const m = new Writer().int(1, 10).msg(7, g);
  for (const [domain, version] of Object.entries(opsets)) m.msg(8, new Writer().str(1, domain).int(2, version));
  return m.done();
}
