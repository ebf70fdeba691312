// Raising a model's default-domain opset to 21 for 4-bit and blocked DequantizeLinear, when the
// cost model says the graph allows it (core/cost/formats.ts blockedQdq: opset ≥ 13 and none of the
// ops whose meaning changed on the way). The one rewrite needed on the way: Reduce ops whose `axes`
// attribute became an input at opset 18 get it as an int64 initializer.
import { REDUCE_AXES_AT_18, QDQ_BLOCKED_OPSET, blockedQdq } from '../../../language-server/core/cost/formats';
import { defaultOpset } from '../../../language-server/core/model/reader';
import type { ModelEditor } from '../engine/model/writer';

/** IR version 10 (ONNX 1.16) is the first with int4/uint4 tensors. */
const IR_INT4 = 10;

/** Raises the editor's model to opset 21 (no-op when it is there); throws when the graph does not allow it. */
export function raiseToBlockedQdqOpset(editor: ModelEditor, used: Set<string>): void {
  const graph = editor.graph;
  const opset = defaultOpset(editor.model);
  if (opset >= QDQ_BLOCKED_OPSET) return;
  const opTypes = [...new Set(graph.node.filter((n) => !n.domain || n.domain === 'ai.onnx').map((n) => n.opType ?? ''))];
  const ok = blockedQdq({ opset, opTypes });
  if (!ok.ok) throw new Error(`cannot raise the model to opset ${QDQ_BLOCKED_OPSET}: ${ok.why}`);
  if (opset < 18) {
    for (const n of graph.node) {
      if ((n.domain && n.domain !== 'ai.onnx') || !REDUCE_AXES_AT_18.includes(n.opType ?? '')) continue;
      const at = (n.attribute ?? []).findIndex((a) => a.name === 'axes');
      if (at < 0) continue; // no axes: all axes, at either opset
      const axes = (n.attribute![at]!.ints ?? []).map((x) => BigInt(x));
      n.attribute!.splice(at, 1);
      let name = `${n.name || n.output?.[0] || n.opType}_axes`;
      for (let i = 1; used.has(name); i++) name = `${n.name || n.output?.[0] || n.opType}_axes_${i}`;
      used.add(name);
      const data = new BigInt64Array(axes);
      editor.addInitializer(name, 'int64', [axes.length], new Uint8Array(data.buffer));
      n.input = [n.input?.[0] ?? '', name];
    }
  }
  editor.setOpset('', QDQ_BLOCKED_OPSET);
  const proto = editor.model.proto;
  if ((proto.irVersion ?? 0) < IR_INT4) proto.irVersion = IR_INT4;
}
