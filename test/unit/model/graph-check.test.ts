// Issue 20 #6: malformed graphs are refused before compute, naming the node and the value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { graphProblem } from '../../../language-server/core/model/graph-check';
import { readInventory } from '../../../language-server/core/model/inventory';
import { encodeMessage, type GraphProto, type NodeProto } from '../../../language-server/core/model/onnx-proto';
import { tempDir } from './helpers';

const W = { name: 'w', dataType: 1, dims: [4, 4], rawData: new Uint8Array(64) };
const node = (name: string, opType: string, input: string[], output: string[]): NodeProto => ({ name, opType, input, output });
const graph = (nodes: NodeProto[], extra: Partial<GraphProto> = {}): GraphProto => ({
  node: nodes, initializer: [W], input: [{ name: 'x' }], output: [{ name: 'y' }], ...extra,
});

test('well-formed graphs pass, in any node order', () => {
  assert.equal(graphProblem(graph([node('mm', 'MatMul', ['x', 'w'], ['h']), node('r', 'Relu', ['h'], ['y'])])), undefined);
  assert.equal(graphProblem(graph([node('r', 'Relu', ['h'], ['y']), node('mm', 'MatMul', ['x', 'w'], ['h'])])), undefined);
  assert.equal(graphProblem(graph([node('c', 'Clip', ['x', '', 'w'], ['y'])])), undefined, 'an omitted optional input');
});

test('cycles, self-loops, missing inputs, values produced twice or over an initializer, unproduced outputs', () => {
  const cases: [GraphProto, RegExp][] = [
    [graph([node('a', 'Add', ['x', 'b_out'], ['a_out']), node('b', 'Relu', ['a_out'], ['b_out']), node('r', 'Relu', ['a_out'], ['y'])]), /cycle through node \d 'a' \(Add\)|cycle through node \d 'b'/],
    [graph([node('s', 'Add', ['x', 's_out'], ['s_out']), node('r', 'Relu', ['s_out'], ['y'])]), /node 0 's' \(Add\) reads its own output 's_out' \(a self-loop\)/],
    [graph([node('mm', 'MatMul', ['x', 'missing'], ['y'])]), /node 0 'mm' \(MatMul\) reads 'missing', which no node, input or initializer/],
    [graph([node('a', 'Relu', ['x'], ['y']), node('b', 'Relu', ['x'], ['y'])]), /value 'y' is produced twice/],
    [graph([node('a', 'Relu', ['x'], ['w']), node('b', 'Relu', ['x'], ['y'])]), /writes 'w', which is already a graph input or initializer/],
    [graph([node('a', 'Relu', ['x'], ['z'])]), /graph output 'y' is produced by no node/],
  ];
  for (const [g, why] of cases) assert.match(graphProblem(g) ?? 'passed', why);
});

test('readInventory refuses a malformed model with the file and the node; a long chain is linear', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'cyclic.onnx');
  const g = graph([node('a', 'MatMul', ['b_out', 'w'], ['a_out']), node('b', 'Relu', ['a_out'], ['b_out']), node('r', 'Relu', ['a_out'], ['y'])]);
  writeFileSync(file, encodeMessage('ModelProto', { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: g }));
  await assert.rejects(readInventory(file), (e: Error) => e.message.startsWith(file) && /malformed graph: the graph has a cycle/.test(e.message));
  const chain: NodeProto[] = [];
  for (let k = 0; k < 100_000; k++) chain.push(node(`n${k}`, 'Relu', [k ? `v${k - 1}` : 'x'], [k === 99_999 ? 'y' : `v${k}`]));
  const t0 = performance.now();
  assert.equal(graphProblem(graph(chain.reverse())), undefined);
  assert.ok(performance.now() - t0 < 5000, `${(performance.now() - t0).toFixed(0)} ms for 100k nodes (quadratic would take minutes)`);
});

test('a hostile inventory stays linear: 60k MatMuls sharing one weight, all with the same node name', async () => {
  const nodes: NodeProto[] = [];
  for (let k = 0; k < 60_000; k++) nodes.push(node('same', 'MatMul', ['x', 'w'], [k === 59_999 ? 'y' : `o${k}`]));
  const dir = tempDir();
  const file = path.join(dir, 'wide.onnx');
  writeFileSync(file, encodeMessage('ModelProto', { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { ...graph(nodes), output: [{ name: 'y' }] } }));
  const t0 = performance.now();
  const inv = await readInventory(file);
  assert.ok(performance.now() - t0 < 10_000, `${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(inv.layers.length, 60_000);
  assert.equal(new Set(inv.layers.map((l) => l.name)).size, 60_000, 'unique names');
  assert.ok(inv.layers.every((l) => l.sharedWith!.length === 32));
});
