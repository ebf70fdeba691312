// Compressed layers: the chain rule from ∂L/∂W to scales and codebooks against finite differences
// (with and without rotations), and the code step re-assigning units to the nearest value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../../language-server/core/util/rng';
import { backward, continuousParams, decodeLayer, decodeRotated, encodeUnits, largestChanges, type CompressedLayer } from '../../../extension/runner/engine/extreme/compressed';
import { incoherenceFor } from '../../../extension/runner/engine/extreme/incoherence';

const rows = 12, cols = 16;

function scalar(rng: Rng, rotated: boolean): CompressedLayer {
  const groups = 2;
  return {
    name: 's', rows, cols,
    body: {
      kind: 'scalar', bits: 2, groupSize: 8, symmetric: false,
      codes: Uint8Array.from({ length: rows * cols }, () => rng.int(4)),
      scales: Float32Array.from({ length: rows * groups }, () => 0.1 + rng.next()),
      zeros: Float32Array.from({ length: rows * groups }, () => rng.int(4)),
    },
    ...(rotated ? { incoherence: incoherenceFor(rows, cols, { in: 1, out: 2 }) } : {}),
  };
}

function vector(rng: Rng, rotated: boolean): CompressedLayer {
  const dim = 4, M = 2, bits = 3;
  return {
    name: 'v', rows, cols,
    body: {
      kind: 'vector', rows, cols, dim, codebooks: M, bits,
      codes: Uint8Array.from({ length: rows * (cols / dim) * M }, () => rng.int(1 << bits)),
      books: rng.fillNormal(new Float32Array(M * (1 << bits) * dim)),
      scales: Float32Array.from({ length: rows }, () => 0.5 + rng.next()),
    },
    ...(rotated ? { incoherence: incoherenceFor(rows, cols, { in: 3, out: 4 }) } : {}),
  };
}

for (const [kind, make] of [['scalar', scalar], ['vector', vector]] as const) {
  for (const rotated of [false, true]) {
    test(`${kind}${rotated ? ' + incoherence' : ''}: backward equals finite differences of L = Σ G∘W`, () => {
      const rng = new Rng(rotated ? 5 : 6);
      const l = make(rng, rotated);
      const G = rng.fillNormal(new Float32Array(rows * cols));
      const L = (): number => { const w = decodeLayer(l); let s = 0; for (let i = 0; i < w.length; i++) s += G[i]! * w[i]!; return s; };
      const { grads } = backward(l, G);
      for (const [name, p] of continuousParams(l)) {
        const g = grads.get(name)!;
        for (const i of [0, 1, Math.floor(p.length / 2), p.length - 1]) {
          const h = 1e-2;
          const old = p[i]!;
          p[i] = old + h; const up = L();
          p[i] = old - h; const down = L();
          p[i] = old;
          const fd = (up - down) / (2 * h);
          assert.ok(Math.abs(fd - g[i]!) <= 2e-3 * Math.max(1, Math.abs(fd)), `${name}[${i}]: fd ${fd} vs ${g[i]}`);
        }
      }
    });
  }
  test(`${kind}: the code step moves the units that differ most to their nearest codes`, () => {
    const rng = new Rng(9);
    const l = make(rng, false);
    const cur = decodeRotated(l);
    const target = Float32Array.from(cur);
    // push three units far away; the code step picks exactly those and each lands closer
    const size = l.body.kind === 'vector' ? l.body.dim : 1;
    const moved = [3, 17, 40];
    for (const u of moved) for (let p = 0; p < size; p++) target[u * size + p]! += 3 * (p % 2 ? -1 : 1);
    const units = largestChanges(l, target, cur, 3);
    assert.deepEqual([...units].sort((a, b) => a - b), moved);
    const dist = (w: Float32Array, u: number): number => { let s = 0; for (let p = 0; p < size; p++) s += (w[u * size + p]! - target[u * size + p]!) ** 2; return s; };
    encodeUnits(l, target, units);
    const after = decodeRotated(l);
    for (const u of moved) assert.ok(dist(after, u) <= dist(cur, u) + 1e-9, `unit ${u}`);
    // every other unit is untouched
    for (let i = 0; i < cur.length; i++) if (!moved.includes(Math.floor(i / size))) assert.equal(after[i], cur[i]);
  });
}
