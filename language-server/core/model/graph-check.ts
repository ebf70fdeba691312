/**
 * Structural checks of a model's main graph before anything runs on it (issue 20, point 6): a
 * graph with a cycle, a node that reads its own output, an input nothing produces, a value produced
 * twice or a graph output nothing produces cannot be a model onnxruntime runs, and compressing it
 * would end in an export that does not load. Each problem names the node and the value.
 * Linear in nodes + edges. Subgraphs (If/Loop bodies) may read outer values and are not checked.
 */
import type { GraphProto, NodeProto } from './onnx-proto';

/** What is wrong with the graph, or undefined when it is well formed. */
export function graphProblem(g: GraphProto): string | undefined {
  const nodes = g.node ?? [];
  const label = (n: NodeProto, k: number): string => `node ${k} '${n.name || n.opType || '?'}' (${n.opType ?? '?'})`;
  const available = new Set<string>();
  for (const v of g.input ?? []) if (v.name) available.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) available.add(t.name);
  // sparse initializers are values too
  for (const s of (g.sparseInitializer as { values?: { name?: string } }[] | undefined) ?? []) if (s.values?.name) available.add(s.values.name);
  const producer = new Map<string, number>();
  for (let k = 0; k < nodes.length; k++) {
    for (const o of nodes[k]!.output ?? []) {
      if (!o) continue;
      const prev = producer.get(o);
      if (prev !== undefined) return `value '${o}' is produced twice, by ${label(nodes[prev]!, prev)} and ${label(nodes[k]!, k)}`;
      if (available.has(o)) return `${label(nodes[k]!, k)} writes '${o}', which is already a graph input or initializer`;
      producer.set(o, k);
    }
  }
  // inputs exist; in-degrees for a topological order (Kahn); a self-loop is a one-node cycle
  const indegree = new Int32Array(nodes.length);
  const users: number[][] = nodes.map(() => []);
  for (let k = 0; k < nodes.length; k++) {
    const n = nodes[k]!;
    const deps = new Set<number>();
    for (const i of n.input ?? []) {
      if (!i) continue; // an omitted optional input
      const p = producer.get(i);
      if (p === k) return `${label(n, k)} reads its own output '${i}' (a self-loop)`;
      if (p === undefined) {
        if (!available.has(i)) return `${label(n, k)} reads '${i}', which no node, input or initializer of the graph produces`;
        continue;
      }
      if (!deps.has(p)) { deps.add(p); users[p]!.push(k); indegree[k]++; }
    }
  }
  const queue: number[] = [];
  for (let k = 0; k < nodes.length; k++) if (indegree[k] === 0) queue.push(k);
  let done = 0;
  while (queue.length) {
    const k = queue.pop()!;
    done++;
    for (const u of users[k]!) if (--indegree[u] === 0) queue.push(u);
  }
  if (done < nodes.length) {
    const k = indegree.findIndex((d) => d > 0);
    return `the graph has a cycle through ${label(nodes[k]!, k)} (${nodes.length - done} nodes never get their inputs)`;
  }
  for (const o of g.output ?? []) {
    if (o.name && !producer.has(o.name) && !available.has(o.name)) return `graph output '${o.name}' is produced by no node`;
  }
  return undefined;
}
