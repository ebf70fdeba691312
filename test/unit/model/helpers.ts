// Small ONNX models built with the writer, for the model-layer tests.
import { mkdtempSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { Rng } from '../../../language-server/core/util/rng';

export function tempDir(prefix = 'qrecipe-model-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function f32bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function randomF32(n: number, seed: number, std = 0.5): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), std);
}

/**
 * x[N,8] → MatMul(W1 [8,16], named like an HF export) → Relu → Gemm(W2 [4,16], transB=1) → y[N,4];
 * plus a Transpose-fed MatMul with a Constant-node weight: y2 = x · Transpose(C [3,8]).
 */
export function buildMlp(file: string, seed = 1): ModelEditor {
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'x', 'float32', ['N', 8]);
  e.addInitializer('model.layers.0.mlp.up_proj.weight', 'float32', [8, 16], f32bytes(randomF32(128, seed)));
  e.addInitializer('onnx::Gemm_7', 'float32', [4, 16], f32bytes(randomF32(64, seed + 1)));
  e.addInitializer('head.bias', 'float32', [4], f32bytes(randomF32(4, seed + 2)));
  e.addNode({ opType: 'MatMul', inputs: ['x', 'model.layers.0.mlp.up_proj.weight'], outputs: ['h'], name: '/model/layers.0/mlp/up_proj/MatMul' });
  e.addNode({ opType: 'Relu', inputs: ['h'], outputs: ['hr'], name: 'relu' });
  e.addNode({ opType: 'Gemm', inputs: ['hr', 'onnx::Gemm_7', 'head.bias'], outputs: ['y'], name: '/head/Gemm', attributes: { transB: { i: 1 } } });
  e.addNode({
    opType: 'Constant', inputs: [], outputs: ['side.w_0'], name: 'const_side',
    attributes: { value: { t: { name: 'side.w_0', dataType: 1, dims: [3, 8], rawData: f32bytes(randomF32(24, seed + 3)) } } },
  });
  e.addNode({ opType: 'Transpose', inputs: ['side.w_0'], outputs: ['side_t'], name: 'side_transpose', attributes: { perm: { ints: [1, 0] } } });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'side_t'], outputs: ['y2'], name: 'MatMul_3' });
  e.addGraphValue('output', 'y', 'float32', ['N', 4]);
  e.addGraphValue('output', 'y2', 'float32', ['N', 3]);
  return e;
}

/** x[N,2,6,6] → Conv(K [4,2,3,3], pad 1) → Relu → Conv depthwise (group 4, [4,1,3,3]) → y. */
export function buildConv(file: string, seed = 5): ModelEditor {
  const e = ModelEditor.create(file, 13);
  e.addGraphValue('input', 'x', 'float32', ['N', 2, 6, 6]);
  e.addInitializer('conv1.weight', 'float32', [4, 2, 3, 3], f32bytes(randomF32(72, seed)));
  e.addInitializer('conv1.bias', 'float32', [4], f32bytes(randomF32(4, seed + 1)));
  e.addInitializer('dw.weight', 'float32', [4, 1, 3, 3], f32bytes(randomF32(36, seed + 2)));
  e.addNode({ opType: 'Conv', inputs: ['x', 'conv1.weight', 'conv1.bias'], outputs: ['c1'], name: 'conv1', attributes: { pads: { ints: [1, 1, 1, 1] } } });
  e.addNode({ opType: 'Relu', inputs: ['c1'], outputs: ['r1'] });
  e.addNode({ opType: 'Conv', inputs: ['r1', 'dw.weight'], outputs: ['y'], name: 'dw', attributes: { group: { i: 4 } } });
  e.addGraphValue('output', 'y', 'float32', ['N', 4, 4, 4]);
  return e;
}

/** A PNG encoder for tests: 8-bit RGB or grey, each row with the given filter type. */
export function encodePng(width: number, height: number, channels: 1 | 3, pixels: Uint8Array, filters = [0, 1, 2, 3, 4]): Uint8Array {
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const cur = pixels[y * stride + x]!;
      const a = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = y > 0 && x >= channels ? pixels[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const pred = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][f]!;
      raw[y * (stride + 1) + 1 + x] = (cur - pred) & 255;
    }
  }
  const chunk = (type: string, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + body.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, body.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    return out; // CRC left 0: the decoder does not check it
  };
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width); dv.setUint32(4, height);
  ihdr[8] = 8; ihdr[9] = channels === 1 ? 0 : 2;
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', new Uint8Array(deflateSync(raw))), chunk('IEND', new Uint8Array())];
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => { all.set(p, o); return o + p.length; }, 0);
  return all;
}
