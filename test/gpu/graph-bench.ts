// The graph executor's benchmark for the GPU machine (issue #17's target: capture + forward of a
// Llama-7B block for 128 samples of 2048 tokens in ≤ 30 s, i.e. ≤ ~100 ms a sample for both passes).
// Prints (1) NN GEMM TFLOPS at 2048×4096×4096 and 2048×11008×4096, cuBLAS and our kernel; (2) one
// Llama-7B-shaped block (hidden 4096, MLP 11008, 32 heads, 2048 tokens, random weights, the node
// pattern of test/fixtures/gen-llama-shaped.ts) as a GraphSpec: ms a forward with and without taps
// on CUDA, and one forward on the CPU. Needs only the addon (no Node packages).
// Build: node native/build.mjs --cuda-archs=sm_90 && node test/gpu/build.mjs; run: node out/gpu/graph-bench.js [--no-cpu] [--tokens=2048]
import { backendInfo, createGraphExecutor, HessianAccumulator, type GraphNode, type GraphSpec, type GraphTensor } from '../../native/index';
import { Rng } from '../../language-server/core/util/rng';

const arg = (k: string, d: number): number => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const TOKENS = arg('tokens', 2048);
const HIDDEN = arg('hidden', 4096);
const MLP = arg('mlp', 11008);
const HEADS = arg('heads', 32);
const noCpu = process.argv.includes('--no-cpu');

function random(n: number, seed: number, std: number): Float32Array {
  const r = new Rng(seed);
  const a = std * Math.sqrt(3);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * r.next() - 1) * a;
  return out;
}
const f32 = (dims: number[], data: Float32Array): GraphTensor => ({ dims, data });
const i64 = (v: number[]): GraphTensor => ({ dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

async function gemmTflops(M: number, N: number, K: number, kernel: 'cublas' | 'own'): Promise<number> {
  // R MatMuls of the same operands, one tiny output: t(R=11) − t(R=1) is ten GEMMs' device time
  const spec = (R: number): GraphSpec => ({
    nodes: [
      ...Array.from({ length: R }, (_, i): GraphNode => ({ op: 'MatMul', name: `mm${i}`, inputs: ['x', 'w'], outputs: [`y${i}`], attrs: {} })),
      { op: 'ReduceMax', name: 'max', inputs: [`y${R - 1}`], outputs: ['m'], attrs: { keepdims: 0 } },
    ],
    inputs: ['x'], outputs: ['m'],
    initializers: { w: f32([K, N], random(K * N, 2, 0.02)) },
  });
  process.env.QRECIPE_GRAPH_GEMM = kernel;
  const x = { x: f32([M, K], random(M * K, 1, 1)) };
  const time = async (R: number): Promise<number> => {
    const ex = createGraphExecutor(spec(R), { device: 'cuda' });
    await ex.run(x); // warm-up
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      await ex.run(x);
      best = Math.min(best, performance.now() - t0);
    }
    ex.dispose();
    return best;
  };
  const dt = ((await time(11)) - (await time(1))) / 10;
  delete process.env.QRECIPE_GRAPH_GEMM;
  return (2 * M * N * K) / (dt / 1000) / 1e12;
}

/** One Llama block as gen-llama-shaped.ts writes it, with random weights. */
function llamaBlock(): { spec: GraphSpec; taps: { tensor: string; cols: number }[] } {
  const H = HIDDEN, M = MLP, hd = H / HEADS;
  const nodes: GraphNode[] = [];
  const init: Record<string, GraphTensor> = {
    eps: f32([], Float32Array.of(1e-5)), scale: f32([], Float32Array.of(1 / Math.sqrt(hd))),
    split: i64([0, 0, HEADS, hd]), merge: i64([0, 0, H]),
    ln1: f32([H], new Float32Array(H).fill(1)), ln2: f32([H], new Float32Array(H).fill(1)),
  };
  let seed = 10;
  const node = (op: string, inputs: string[], outputs: string[], attrs: GraphNode['attrs'] = {}): void => {
    nodes.push({ op, name: `/layers.0/${outputs[0]}`, inputs, outputs, attrs });
  };
  const rms = (x: string, w: string, out: string): void => {
    node('Mul', [x, x], [`${out}.sq`]);
    node('ReduceMean', [`${out}.sq`], [`${out}.ms`], { axes: [-1], keepdims: 1 });
    node('Add', [`${out}.ms`, 'eps'], [`${out}.mse`]);
    node('Sqrt', [`${out}.mse`], [`${out}.rms`]);
    node('Div', [x, `${out}.rms`], [`${out}.xn`]);
    node('Mul', [`${out}.xn`, w], [out]);
  };
  const linear = (x: string, name: string, inF: number, outF: number): string => {
    init[name] = f32([inF, outF], random(inF * outF, seed++, 0.02));
    node('MatMul', [x, name], [`${name}.out`]);
    return `${name}.out`;
  };
  rms('h', 'ln1', 'n1');
  const q = linear('n1', 'q', H, H), k = linear('n1', 'k', H, H), v = linear('n1', 'v', H, H);
  for (const [t, perm] of [[q, [0, 2, 1, 3]], [k, [0, 2, 3, 1]], [v, [0, 2, 1, 3]]] as const) {
    node('Reshape', [t, 'split'], [`${t}.heads`]);
    node('Transpose', [`${t}.heads`], [`${t}.t`], { perm: [...perm] });
  }
  node('MatMul', [`${q}.t`, `${k}.t`], ['scores']);
  node('Mul', ['scores', 'scale'], ['scaled']);
  node('Add', ['scaled', 'mask'], ['masked']);
  node('Softmax', ['masked'], ['probs'], { axis: -1 });
  node('MatMul', ['probs', `${v}.t`], ['ctx']);
  node('Transpose', ['ctx'], ['ctx.t'], { perm: [0, 2, 1, 3] });
  node('Reshape', ['ctx.t', 'merge'], ['attn']);
  const o = linear('attn', 'o', H, H);
  node('Add', ['h', o], ['h1']);
  rms('h1', 'ln2', 'n2');
  const g = linear('n2', 'gate', H, M), u = linear('n2', 'up', H, M);
  node('Sigmoid', [g], ['sig']);
  node('Mul', [g, 'sig'], ['silu']);
  node('Mul', ['silu', u], ['gu']);
  const d = linear('gu', 'down', M, H);
  node('Add', ['h1', d], ['h2']);
  return {
    spec: { nodes, inputs: ['h', 'mask'], outputs: ['h2'], initializers: init },
    taps: [{ tensor: 'n1', cols: H }, { tensor: 'attn', cols: H }, { tensor: 'n2', cols: H }, { tensor: 'gu', cols: M }],
  };
}

async function main(): Promise<void> {
  const bi = backendInfo();
  const gpu = bi.cuda.devices[0];
  console.log(`graph-bench: ${gpu ? `${gpu.name}, ` : 'no GPU, '}${bi.threads} CPU threads (${bi.cpuKernel}), tokens ${TOKENS}, hidden ${HIDDEN}, MLP ${MLP}, ${HEADS} heads`);
  if (!gpu) console.log(`CUDA: ${bi.cuda.error ?? 'none'}`);
  if (gpu) {
    for (const [M, N, K] of [[2048, 4096, 4096], [2048, 11008, 4096]] as const) {
      const cb = await gemmTflops(M, N, K, 'cublas');
      const own = await gemmTflops(M, N, K, 'own');
      console.log(`gemm NN ${M}×${N}×${K}: cuBLAS ${cb.toFixed(1)} TFLOPS, own kernel ${own.toFixed(1)} TFLOPS (own/cuBLAS ${(own / cb).toFixed(2)})`);
    }
  }
  const { spec, taps } = llamaBlock();
  const mask = new Float32Array(TOKENS * TOKENS);
  for (let i = 0; i < TOKENS; i++) for (let j = i + 1; j < TOKENS; j++) mask[i * TOKENS + j] = -1e9;
  const feeds = { h: f32([1, TOKENS, HIDDEN], random(TOKENS * HIDDEN, 3, 1)), mask: f32([TOKENS, TOKENS], mask) };
  const results: Record<string, number> = {};
  for (const device of gpu ? ['cuda', 'cpu'] as const : ['cpu'] as const) {
    if (device === 'cpu' && noCpu) continue;
    const t0 = performance.now();
    const ex = createGraphExecutor(spec, { device });
    const upload = performance.now() - t0;
    const accs = taps.map((t) => new HessianAccumulator(t.cols, { keepOnDevice: true }));
    const tapped = { taps: taps.map((t, k) => ({ tensor: t.tensor, acc: accs[k]!, samples: 1 })) };
    const reps = device === 'cuda' ? 5 : 1;
    if (device === 'cuda') await ex.run(feeds, tapped); // warm-up (allocations, cuBLAS handle)
    let plain = Infinity, withTaps = Infinity;
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      await ex.run(feeds);
      plain = Math.min(plain, performance.now() - t);
      t = performance.now();
      await ex.run(feeds, tapped);
      withTaps = Math.min(withTaps, performance.now() - t);
    }
    results[device] = plain + withTaps;
    console.log(`llama-7B block on ${device}: weights up ${upload.toFixed(0)} ms; forward ${plain.toFixed(1)} ms, forward + 4 taps ${withTaps.toFixed(1)} ms; device bytes ${(ex.deviceBytes / 2 ** 30).toFixed(2)} GiB`);
    if (device === 'cuda')
      console.log(`  128 samples × (capture + forward): ${(128 * (plain + withTaps) / 1000).toFixed(1)} s a block (target ≤ 30 s)`);
    for (const a of accs) a.dispose();
    ex.dispose();
  }
  if (results.cuda && results.cpu) console.log(`cpu/cuda time ratio (both passes): ${(results.cpu / results.cuda).toFixed(1)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
