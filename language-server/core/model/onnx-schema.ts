/**
 * The subset of the ONNX protobuf format QRecipe reads and writes, declared as .proto text and
 * compiled once by protobufjs. Field names and numbers are the format's (onnx.proto, IR 3–11);
 * messages QRecipe never inspects but must carry through a rewrite (training info, functions,
 * sparse initializers, quantisation annotations) are declared too, so a read-then-write keeps them.
 * protobufjs camel-cases the names: `raw_data` is `rawData` in the decoded objects.
 */
import protobuf from 'protobufjs';

const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message StringStringEntryProto { optional string key = 1; optional string value = 2; }

message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }

message TensorProto {
  message Segment { optional int64 begin = 1; optional int64 end = 2; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  optional string doc_string = 12;
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value { int64 dim_value = 1; string dim_param = 2; }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  message Sequence { optional TypeProto elem_type = 1; }
  message Map { optional int32 key_type = 1; optional TypeProto value_type = 2; }
  message Optional { optional TypeProto elem_type = 1; }
  message SparseTensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  message Opaque { optional string domain = 1; optional string name = 2; }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Opaque opaque_type = 7;
    SparseTensor sparse_tensor_type = 8;
    Optional optional_type = 9;
  }
  optional string denotation = 6;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message AttributeProto {
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  optional string doc_string = 13;
  optional TypeProto tp = 14;
  repeated TypeProto type_protos = 15;
  optional int32 type = 20;
  optional string ref_attr_name = 21;
  optional SparseTensorProto sparse_tensor = 22;
  repeated SparseTensorProto sparse_tensors = 23;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
  optional string overload = 8;
  repeated StringStringEntryProto metadata_props = 9;
}

message TensorAnnotation {
  optional string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated SparseTensorProto sparse_initializer = 15;
  repeated StringStringEntryProto metadata_props = 16;
}

message TrainingInfoProto {
  optional GraphProto initialization = 1;
  optional GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3;
  repeated StringStringEntryProto update_binding = 4;
}

message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated NodeProto node = 7;
  optional string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
  repeated AttributeProto attribute_proto = 11;
  repeated ValueInfoProto value_info = 12;
  optional string overload = 13;
  repeated StringStringEntryProto metadata_props = 14;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20;
  repeated FunctionProto functions = 25;
}
`;

/** ONNX TensorProto.DataType codes. */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8,
  BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15,
  BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20,
  UINT4: 21, INT4: 22, FLOAT4E2M1: 23,
} as const;

/** ONNX AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

/** TensorProto.data_location: the bytes are in raw_data/typed fields, or in a side file. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

let root: protobuf.Root | undefined;

/** The compiled protobufjs type of one ONNX message, e.g. `onnxType('ModelProto')`. */
export function onnxType(name: string): protobuf.Type {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: false }).root;
  return root.lookupType(`onnx.${name}`);
}
