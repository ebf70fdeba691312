/**
 * The relative output error a compressed layer makes on its calibration inputs, from the Hessian:
 * ‖(W − Ŵ)X‖² / ‖WX‖² = tr(ΔW·H·ΔWᵀ) / tr(W·H·Wᵀ), H = (2/n)·XᵀX. Two rows × cols × cols
 * products: a few seconds per large layer in plain JavaScript, so they run as one small onnxruntime
 * graph (MatMul on all cores, or on the GPU provider), opened once per process. Sums in float32.
 */
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../model/writer';
import { openSession, runSession, type OpenedSession, type ProviderChoice } from '../evaluate/session';

let opened: Promise<OpenedSession> | undefined;

async function graphBytes(): Promise<Uint8Array> {
  const e = ModelEditor.create('output-error.onnx', 17, 'output_error');
  e.addGraphValue('input', 'W', 'float32', ['rows', 'cols']);
  e.addGraphValue('input', 'Q', 'float32', ['rows', 'cols']);
  e.addGraphValue('input', 'H', 'float32', ['cols', 'cols']);
  e.addNode({ opType: 'Sub', inputs: ['W', 'Q'], outputs: ['D'] });
  e.addNode({ opType: 'MatMul', inputs: ['D', 'H'], outputs: ['DH'] });
  e.addNode({ opType: 'Mul', inputs: ['DH', 'D'], outputs: ['DHD'] });
  e.addNode({ opType: 'ReduceSum', inputs: ['DHD'], outputs: ['num'], attributes: { keepdims: { i: 0 } } });
  e.addNode({ opType: 'MatMul', inputs: ['W', 'H'], outputs: ['WH'] });
  e.addNode({ opType: 'Mul', inputs: ['WH', 'W'], outputs: ['WHW'] });
  e.addNode({ opType: 'ReduceSum', inputs: ['WHW'], outputs: ['den'], attributes: { keepdims: { i: 0 } } });
  e.addGraphValue('output', 'num', 'float32', []);
  e.addGraphValue('output', 'den', 'float32', []);
  return e.toBuffer();
}

/** tr(ΔW·H·ΔWᵀ) / tr(W·H·Wᵀ) for W, Ŵ rows × cols and H cols × cols (row-major float32); 0 when WX = 0. */
export async function relativeOutputError(W: Float32Array, Q: Float32Array, H: Float32Array, rows: number, cols: number, provider?: ProviderChoice): Promise<number> {
  opened ??= graphBytes().then((b) => openSession(b, { provider }));
  const s = await opened;
  const out = await runSession(s.session, {
    W: new ort.Tensor('float32', W, [rows, cols]), Q: new ort.Tensor('float32', Q, [rows, cols]), H: new ort.Tensor('float32', H, [cols, cols]),
  }, 'output-error graph', `a ${rows}x${cols} layer`);
  const num = (out.num!.data as Float32Array)[0]!;
  const den = (out.den!.data as Float32Array)[0]!;
  return den > 0 ? Math.max(0, num) / den : 0;
}
