// Builds native/build/Release/qrecipe.node: the CUDA kernels with nvcc into a static library (when
// nvcc exists and QRECIPE_NO_CUDA is not set), then the addon with node-gyp. No network needed:
// Node's headers come from --nodedir (default /usr, where the distribution's node-dev puts them).
// With --bench it also builds the benchmark addon qrecipe_bench.node (native/bench/: the product's
// code plus the benchmarks and the kernel variants they compare; `npm run bench:native` does this).
// Usage: node native/build.mjs [--cuda-archs=sm_90] [--bench] ; env QRECIPE_NO_CUDA=1, CUDA_HOME, QRECIPE_NODEDIR.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, copyFileSync, readFileSync, rmSync, statSync, readdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const buildDir = path.join(here, 'build');
const cudaHome = process.env.CUDA_HOME || '/usr/local/cuda';
const nvcc = path.join(cudaHome, 'bin', 'nvcc');
const wantCuda = !process.env.QRECIPE_NO_CUDA && existsSync(nvcc);
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const jobs = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
const archArg = process.argv.find((a) => a.startsWith('--cuda-archs='));
const withBench = process.argv.includes('--bench');
// sm_80 machine code (runs as is on sm_86/sm_89: same major version), sm_90, and compute_90 PTX so
// newer GPUs can JIT it; two SASS targets keep the CUDA build near 2 minutes on 2 cores
const archs = archArg ? archArg.split('=')[1].split(',') : ['sm_80', 'sm_90'];

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'inherit', ...opts });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} exited with ${code}`))));
  });
}

function findNodeGyp() {
  const candidates = [];
  try {
    const prefix = execFileSync('npm', ['prefix', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    candidates.push(path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  } catch { /* npm not on PATH */ }
  candidates.push(path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(path.join(root, 'node_modules/node-gyp/bin/node-gyp.js'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`node-gyp not found; looked in:\n  ${candidates.join('\n  ')}`);
  return found;
}

/**
 * Compiles the .cu files of srcDir (in parallel) into build/<outName>/lib<name>.a, recompiling only
 * those older than themselves or a header they may include.
 */
async function buildCuda(srcDir, outName, libName) {
  const outDir = path.join(buildDir, outName);
  mkdirSync(outDir, { recursive: true });
  const gencode = archs.flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]);
  gencode.push('-gencode', 'arch=compute_90,code=compute_90');
  const common = ['-std=c++17', '-O3', '-Xcompiler', '-fPIC,-O3,-fopenmp', '-cudart', 'static', '-I', path.join(here, 'src'),
    '-DQRECIPE_CUDA', '--expt-relaxed-constexpr', ...gencode];
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.cu')).sort();
  const headerIn = (dir, ext) => readdirSync(dir).filter((f) => ext.some((e) => f.endsWith(e))).map((f) => path.join(dir, f));
  const headers = [...new Set([...headerIn(path.join(here, 'src', 'cuda'), ['.cuh']), ...headerIn(srcDir, ['.cuh', '.h'])])]
    .concat(['cuda_api.h', 'common.h', 'gptq.h', 'sparsegpt.h', 'quant_grid.h', 'linalg.h', 'fp16.h', 'pack.h',
      'graph/kernels.h', 'graph/tensor.h'].map((f) => path.join(here, 'src', f)));
  const newestHeader = Math.max(...headers.filter(existsSync).map((h) => statSync(h).mtimeMs));
  const objs = [];
  const queue = [];
  for (const s of sources) {
    const src = path.join(srcDir, s);
    const obj = path.join(outDir, s.replace(/\.cu$/, '.o'));
    objs.push(obj);
    if (existsSync(obj) && statSync(obj).mtimeMs > Math.max(statSync(src).mtimeMs, newestHeader)) continue;
    queue.push(() => run(nvcc, [...common, '-rdc=false', '-c', src, '-o', obj]));
  }
  const t0 = Date.now();
  const workers = Array.from({ length: Math.min(jobs, queue.length) }, async () => { while (queue.length) await queue.shift()(); });
  await Promise.all(workers);
  const lib = path.join(outDir, `lib${libName}.a`);
  await run('ar', ['rcs', lib + '.tmp', ...objs]);
  rmSync(lib, { force: true });
  renameSync(lib + '.tmp', lib);
  console.log(`${outName}: ${sources.length} files for ${archs.join(',')}+compute_90 in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return lib;
}

/** make does not track a CUDA library as a link input: drop an addon older than it so it is relinked. */
function dropStale(addon, lib) {
  for (const f of [path.join(buildDir, 'Release', addon), path.join(buildDir, 'Release', 'obj.target', addon)])
    if (existsSync(f) && statSync(f).mtimeMs < statSync(lib).mtimeMs) rmSync(f);
}

async function main() {
  const t0 = Date.now();
  mkdirSync(buildDir, { recursive: true });
  let cudaLib = '';
  let benchCudaLib = '';
  if (wantCuda) {
    cudaLib = await buildCuda(path.join(here, 'src', 'cuda'), 'cuda', 'qrecipe_cuda');
    dropStale('qrecipe.node', cudaLib);
    if (withBench) {
      benchCudaLib = await buildCuda(path.join(here, 'bench'), 'cuda-bench', 'qrecipe_bench_cuda');
      for (const lib of [cudaLib, benchCudaLib]) dropStale('qrecipe_bench.node', lib);
    }
  }
  else console.log(process.env.QRECIPE_NO_CUDA ? 'cuda: skipped (QRECIPE_NO_CUDA set)' : `cuda: skipped (${nvcc} not found)`);
  const gyp = findNodeGyp();
  const nodedir = process.env.QRECIPE_NODEDIR || '/usr';
  const gypVars = [`-Dcuda_lib=${cudaLib}`, `-Dcuda_home=${cudaHome}`, `-Dqr_version=${version}`,
    `-Dwith_bench=${withBench ? 'yes' : 'no'}`, `-Dbench_cuda_lib=${benchCudaLib}`];
  await run(process.execPath, [gyp, 'configure', `--nodedir=${nodedir}`, '--', ...gypVars], { cwd: here });
  await run(process.execPath, [gyp, 'build', `--jobs=${jobs}`], { cwd: here });
  const out = path.join(buildDir, 'Release', 'qrecipe.node');
  // ship the OpenMP runtime beside the addon (found through its $ORIGIN rpath)
  try {
    const gomp = execFileSync('g++', ['-print-file-name=libgomp.so.1'], { encoding: 'utf8' }).trim();
    if (path.isAbsolute(gomp) && existsSync(gomp)) {
      // Copy, then rename: writing over a library that a running process has mapped crashes it.
      const dest = path.join(buildDir, 'Release', 'libgomp.so.1');
      copyFileSync(gomp, `${dest}.tmp`);
      renameSync(`${dest}.tmp`, dest);
    }
  } catch { /* the system's libgomp will be used */ }
  const built = withBench ? `${path.relative(root, out)} and qrecipe_bench.node` : path.relative(root, out);
  console.log(`built ${built} (${cudaLib ? 'CPU + CUDA' : 'CPU only'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(`native build failed: ${e.message}`);
  process.exit(1);
});
