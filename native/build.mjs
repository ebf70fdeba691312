// Builds native/build/Release/qrecipe.node: the CUDA kernels with nvcc into a static library (when
// nvcc exists and QRECIPE_NO_CUDA is not set), then the addon with node-gyp. No network needed:
// Node's headers come from --nodedir (default /usr, where the distribution's node-dev puts them).
// Usage: node native/build.mjs [--debug-cuda-archs=sm_90] ; env QRECIPE_NO_CUDA=1, CUDA_HOME, QRECIPE_NODEDIR.
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

/** Compiles src/cuda/*.cu (in parallel) into build/cuda/libqrecipe_cuda.a with a device-link step. */
async function buildCuda() {
  const srcDir = path.join(here, 'src', 'cuda');
  const outDir = path.join(buildDir, 'cuda');
  mkdirSync(outDir, { recursive: true });
  const gencode = archs.flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]);
  gencode.push('-gencode', 'arch=compute_90,code=compute_90');
  const common = ['-std=c++17', '-O3', '-Xcompiler', '-fPIC,-O3,-fopenmp', '-cudart', 'static', '-I', path.join(here, 'src'),
    '-DQRECIPE_CUDA', '--expt-relaxed-constexpr', ...gencode];
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.cu')).sort();
  const headers = readdirSync(srcDir).filter((f) => f.endsWith('.cuh')).map((f) => path.join(srcDir, f))
    .concat(['cuda_api.h', 'common.h', 'gptq.h', 'sparsegpt.h', 'quant_grid.h', 'linalg.h'].map((f) => path.join(here, 'src', f)));
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
  const lib = path.join(outDir, 'libqrecipe_cuda.a');
  await run('ar', ['rcs', lib + '.tmp', ...objs]);
  const { renameSync } = await import('node:fs');
  rmSync(lib, { force: true });
  renameSync(lib + '.tmp', lib);
  console.log(`cuda: ${sources.length} files for ${archs.join(',')}+compute_90 in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return lib;
}

async function main() {
  const t0 = Date.now();
  mkdirSync(buildDir, { recursive: true });
  let cudaLib = '';
  if (wantCuda) {
    cudaLib = await buildCuda();
    // make does not track the CUDA library as a link input: drop a stale addon so it is relinked
    for (const f of [path.join(buildDir, 'Release', 'qrecipe.node'), path.join(buildDir, 'Release', 'obj.target', 'qrecipe.node')])
      if (existsSync(f) && statSync(f).mtimeMs < statSync(cudaLib).mtimeMs) rmSync(f);
  }
  else console.log(process.env.QRECIPE_NO_CUDA ? 'cuda: skipped (QRECIPE_NO_CUDA set)' : `cuda: skipped (${nvcc} not found)`);
  const gyp = findNodeGyp();
  const nodedir = process.env.QRECIPE_NODEDIR || '/usr';
  const gypVars = [`-Dcuda_lib=${cudaLib}`, `-Dcuda_home=${cudaHome}`, `-Dqr_version=${version}`];
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
  console.log(`built ${path.relative(root, out)} (${cudaLib ? 'CPU + CUDA' : 'CPU only'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(`native build failed: ${e.message}`);
  process.exit(1);
});
