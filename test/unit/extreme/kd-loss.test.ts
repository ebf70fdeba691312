// The knowledge-distillation loss head: its value is KL(teacher ‖ model) averaged over positions, and
// its weight gradient is the analytic one (softmax − p_teacher back through the MatMul), for logits
// and for an output that is already a Softmax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { Rng } from '../../../language-server/core/util/rng';
import { GradientSession, inlineProto } from '../../../extension/runner/engine/grad/index';

const B = 2, T = 3, D = 4, V = 5;

function model(softmax: boolean): { editor: ModelEditor; E: Float32Array; W: Float32Array } {
  const rng = new Rng(softmax ? 2 : 1);
  const E = rng.fillNormal(new Float32Array(10 * D), 0.7);
  const W = rng.fillNormal(new Float32Array(D * V), 0.7);
  const e = ModelEditor.create(`/tmp/qrecipe-kd-${softmax}.onnx`, 17);
  e.addGraphValue('input', 'ids', 'int64', ['B', 'T']);
  e.addInitializer('E', 'float32', [10, D], new Uint8Array(E.buffer));
  e.addInitializer('W', 'float32', [D, V], new Uint8Array(W.buffer));
  e.addNode({ opType: 'Gather', inputs: ['E', 'ids'], outputs: ['emb'], name: 'embed' });
  e.addNode({ opType: 'MatMul', inputs: ['emb', 'W'], outputs: [softmax ? 'z' : 'out'], name: 'head' });
  if (softmax) e.addNode({ opType: 'Softmax', inputs: ['z'], outputs: ['out'], attributes: { axis: { i: -1 } } });
  e.addGraphValue('output', 'out', 'float32', ['B', 'T', V]);
  return { editor: e, E, W };
}

for (const softmax of [false, true]) {
  test(`kd loss and its weight gradient (${softmax ? 'softmax output' : 'logits'})`, async () => {
    const { editor, E, W } = model(softmax);
    const rng = new Rng(7);
    const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(10)));
    // teacher log-probabilities: a random distribution per position
    const tl = new Float32Array(B * T * V);
    for (let p = 0; p < B * T; p++) {
      const z = Array.from({ length: V }, () => rng.normal());
      const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
      for (let v = 0; v < V; v++) tl[p * V + v] = z[v]! - lse;
    }
    const session = new GradientSession(inlineProto(editor.model), { wrt: ['W'], loss: { kind: 'kd' } });
    const r = await session.run({ ids: new ort.Tensor('int64', ids, [B, T]), teacher_logprobs: new ort.Tensor('float32', tl, [B, T, V]) });
    // reference in float64
    let kl = 0;
    const gW = new Float64Array(D * V);
    for (let p = 0; p < B * T; p++) {
      const x = Array.from({ length: D }, (_, d) => E[Number(ids[p]!) * D + d]!);
      const z = Array.from({ length: V }, (_, v) => x.reduce((a, xd, d) => a + xd * W[d * V + v]!, 0));
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
      for (let v = 0; v < V; v++) {
        const pt = Math.exp(tl[p * V + v]!);
        kl += pt * (tl[p * V + v]! - (z[v]! - lse));
        const dz = (Math.exp(z[v]! - lse) - pt) / (B * T);
        for (let d = 0; d < D; d++) gW[d * V + v]! += x[d]! * dz;
      }
    }
    kl /= B * T;
    assert.ok(Math.abs(r.loss - kl) < 1e-5, `loss ${r.loss} vs ${kl}`);
    const g = r.grads.get('W')!.data as Float32Array;
    for (let i = 0; i < gW.length; i++) assert.ok(Math.abs(g[i]! - gW[i]!) < 1e-5, `dL/dW[${i}] ${g[i]} vs ${gW[i]}`);
    await session.release();
  });
}
