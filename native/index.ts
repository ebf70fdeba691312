/**
 * The only door to QRecipe's native addon (native/build/Release/qrecipe.node): the heavy math of
 * every compression method, on the CPU (OpenMP, all cores) or a CUDA GPU.
 *
 * Conventions: a weight W is a row-major Float32Array of rows × cols with rows = output features
 * and cols = input features; groups and N:M patterns run along cols; a Hessian is cols × cols.
 * Every call is async (the work runs off the JS thread), reads its inputs in place (do not mutate
 * them until the Promise settles), accepts `{ signal, onProgress, device }` and rejects with a
 * `CancelledError` when the signal aborts. Shapes and options are checked here before the addon is
 * called; the addon checks again and throws plain JS errors (never aborts the process).
 *
 * The files behind it: types.ts (public types and errors), limits.ts (what the calls accept, pure),
 * checks.ts (argument checks), load.ts (loading, running a job), and the calls by family:
 * quantize.ts, hessian.ts, prune.ts, llm-mq.ts, pack.ts, vq.ts (AQLM's inner loops), memory.ts (allocator policy), graph.ts (the graph
 * executor: a model part on the CPU or a GPU, contract in graph-types.ts). Benchmarks are not product API: bench.ts.
 */
export * from './types';
export * from './limits';
export { addonCandidates, backendInfo, gpuCount, isAvailable } from './load';
export { gptq, quantGrid, rtn } from './quantize';
export { HessianAccumulator } from './hessian';
export { magnitude, sparsegpt, wanda } from './prune';
export { outliers, quantError } from './llm-mq';
export { packInt8PerChannel, packMatMulNBits, unpackInt8PerChannel, unpackMatMulNBits } from './pack';
export { tuneAllocator } from './memory';
export { vqCodes, vqNearest, vqNormal, vqRowsTimesH, type VqShape } from './vq';
export type * from './graph-types';
export { createGraphExecutor, graphSupport, GraphUnsupportedError, type GraphExecutorOptions } from './graph';
