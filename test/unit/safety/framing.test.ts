// The stdio framing filter (language-server/server/framing.ts): valid frames pass whole and in
// order however the stream is cut into chunks; bad headers are dropped without stalling what follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameFilter } from '../../../language-server/server/framing';
import { Rng } from '../../../language-server/core/util/rng';

function frame(body: string): string {
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

async function run(input: string, rng: Rng): Promise<{ out: string; drops: string[] }> {
  const drops: string[] = [];
  const f = new FrameFilter((w) => drops.push(w));
  let out = '';
  f.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  const bytes = Buffer.from(input, 'utf8');
  for (let i = 0; i < bytes.length;) {
    const n = 1 + rng.int(Math.min(64, bytes.length - i));
    f.write(bytes.subarray(i, i + n));
    i += n;
  }
  await new Promise<void>((r) => f.end(r));
  return { out, drops };
}

test('frames pass whole under any chunking; bad headers are dropped and the stream goes on', async () => {
  const rng = new Rng(2);
  for (let k = 0; k < 200; k++) {
    const good = Array.from({ length: 1 + rng.int(5) }, (_, j) => JSON.stringify({ id: j, text: 'é"\\'.repeat(rng.int(20)) }));
    const bad = ['Content-Length: -5\r\n\r\n', 'Content-Length: abc\r\n\r\n', 'X-Nothing: 1\r\n\r\n', 'garbage{"a":1}', 'Content-Length: 2e3\r\n\r\n'];
    let input = '';
    for (const g of good) { if (rng.next() < 0.5) input += bad[rng.int(bad.length)]!; input += frame(g); }
    const { out } = await run(input, rng);
    assert.equal(out, good.map(frame).join(''), `case ${k}: ${JSON.stringify(input)}`);
  }
});

test('an oversized message is skipped without being held; what follows it is read', async () => {
  const { out, drops } = await run(`Content-Length: 200000000\r\n\r\n${'x'.repeat(100)}`, new Rng(1));
  assert.equal(out, '');
  assert.match(drops[0]!, /200000000 bytes, more than/);
});
