// The float32 twin of a bfloat16 model (what the CPU provider runs): no bfloat16 left in
// initializers, declared values or casts, and every weight widened exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { loadModel, tensorFloat32 } from '../../../language-server/core/model/reader';
import { DataType } from '../../../language-server/core/model/onnx-schema';
import { hasBfloat16, writeFloat32Twin } from '../../../extension/runner/engine/evaluate/bf16-twin';

const bf16 = path.resolve('test/fixtures/hf/llama-gqa-bf16/model.onnx');

test('float32 twin: exact weights, no bfloat16 anywhere', { skip: existsSync(bf16) ? false : 'hf fixtures missing' }, async () => {
  const src = await loadModel(bf16);
  assert.ok(hasBfloat16(src));
  const files = await writeFloat32Twin(bf16);
  try {
    const twin = await loadModel(files[0]!);
    assert.ok(!hasBfloat16(twin));
    const g = twin.proto.graph!;
    assert.ok((g.initializer ?? []).every((t) => t.dataType !== DataType.BFLOAT16));
    assert.ok((g.node ?? []).every((n) => !(n.opType === 'Cast' && n.attribute?.some((a) => a.name === 'to' && a.i === DataType.BFLOAT16))));
    assert.ok([...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])].every((v) => v.type?.tensorType?.elemType !== DataType.BFLOAT16));
    const srcInits = new Map((src.proto.graph!.initializer ?? []).map((t) => [t.name, t]));
    let compared = 0;
    for (const t of g.initializer ?? []) {
      const o = srcInits.get(t.name)!;
      if (o.dataType !== DataType.BFLOAT16) continue;
      assert.equal(t.dataType, DataType.FLOAT);
      assert.deepEqual(tensorFloat32(twin, t), tensorFloat32(src, o), t.name);
      compared++;
    }
    assert.ok(compared >= 16, `${compared} weights compared`);
  } finally {
    for (const f of files) rmSync(f, { force: true });
  }
});
