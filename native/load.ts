/**
 * Loading the addon (native/build/Release/qrecipe.node) and running one of its jobs: the raw
 * surface the addon exports, where the file is looked for, and `call`, which maps an AbortSignal to
 * the flag the native loops poll and the addon's cancellation back to CancelledError.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { check } from './checks';
import { CancelledError, type Progress } from './cancel';
import { NativeLoadError, type BackendInfo, type CallOptions, type Device, type Ran } from './types';

// The raw addon surface (what qrecipe.node exports). Each job takes one option object holding
// shapes, options and the caller-allocated output arrays it fills in place.

export interface RawJobOptions {
  cancel?: Int32Array;
  onProgress?: (p: Progress) => void;
  device?: Device;
  [key: string]: unknown;
}
export type RawJob<R = object> = (o: RawJobOptions) => Promise<R & Ran>;

interface Addon {
  backendInfo(): Omit<BackendInfo, 'addonPath'>;
  quantGrid: RawJob;
  hessian: RawJob<{ count: number }>;
  gptq: RawJob<{ loss: number }>;
  sparsegpt: RawJob<{ loss: number }>;
  wanda: RawJob;
  magnitude: RawJob;
  outliers: RawJob;
  quantError: RawJob;
  packNBits: RawJob;
  unpackNBits: RawJob;
  vqRowsTimesH: RawJob;
  vqNearest: RawJob;
  vqCodes: RawJob<{ changed: number }>;
  vqNormal: RawJob;
  hessianFetch(o: { id: number; cols?: number; H?: Float32Array; release?: boolean }): boolean;
}

// ---------------------------------------------------------------------------------------------
// Loading

/** An addon file of native/build/Release: its name, the variable that overrides its path, how to build it. */
export interface AddonFile {
  file: string;
  envVar: string;
  build: string;
}
const PRODUCT_ADDON: AddonFile = {
  file: 'qrecipe.node',
  envVar: 'QRECIPE_ADDON',
  build: 'Build it with `npm run build:native` (needs g++ and Node headers; CUDA is added when nvcc exists)',
};
const loaded = new Map<string, { exports: unknown; path: string }>();

function findRepoRoot(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Candidate paths of an addon, in the order they are tried; its variable (QRECIPE_ADDON), when set, is the only one. */
export function addonCandidates(a: AddonFile = PRODUCT_ADDON): string[] {
  const fromEnv = process.env[a.envVar];
  if (fromEnv) return [path.resolve(fromEnv)];
  const rel = path.join('native', 'build', 'Release', a.file);
  const list: string[] = [];
  list.push(path.join(__dirname, '..', rel)); // bundles live in dist/
  const fromDir = findRepoRoot(__dirname);
  if (fromDir) list.push(path.join(fromDir, rel));
  const fromCwd = findRepoRoot(process.cwd());
  if (fromCwd) list.push(path.join(fromCwd, rel));
  return [...new Set(list)];
}

/** Loads an addon once per process (later calls return the same exports) and says where it came from. */
export function loadAddon<T>(a: AddonFile): { exports: T; path: string } {
  const done = loaded.get(a.file);
  if (done) return done as { exports: T; path: string };
  const tried: string[] = [];
  // OpenMP threads that spin between parallel regions would starve the JS thread (progress
  // callbacks, other work); libgomp reads this once when it is loaded, so set it before dlopen
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  for (const file of addonCandidates(a)) {
    if (!existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    try {
      const mod = { exports: {} as T };
      // process.dlopen keeps the path out of the bundler's hands (a plain require would be rewritten)
      (process as NodeJS.Process & { dlopen(m: { exports: unknown }, f: string): void }).dlopen(mod, file);
      const entry = { exports: mod.exports, path: file };
      loaded.set(a.file, entry);
      return entry;
    } catch (e) {
      tried.push(`${file}: ${(e as Error).message}`);
    }
  }
  throw new NativeLoadError(
    `QRecipe's native addon could not be loaded. Tried:\n  ${tried.join('\n  ')}\n` +
      `${a.build}, or point ${a.envVar} at a ${a.file} file.`,
  );
}

/** The product addon, loaded on first use. */
export function load(): Addon {
  return loadAddon<Addon>(PRODUCT_ADDON).exports;
}

/** Loads the addon (if needed) and describes it: version, CPU threads and kernel, CUDA devices. */
export function backendInfo(): BackendInfo {
  const a = loadAddon<Addon>(PRODUCT_ADDON);
  return { ...a.exports.backendInfo(), addonPath: a.path };
}

/** How many GPUs calls can spread over (0 without a usable CUDA device or addon); never throws. */
export function gpuCount(): number {
  try {
    return backendInfo().cuda.devices.length;
  } catch {
    return 0;
  }
}

/** True when the addon file can be loaded; never throws. */
export function isAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** Runs one job (`job()` loads its addon) with the AbortSignal mapped to the shared flag the native loops poll. */
export async function runJob<R>(job: () => RawJob<R>, fields: Record<string, unknown>, opts: CallOptions = {}): Promise<R & Ran> {
  const fn = job();
  const { signal, onProgress, device = 'auto', gpu } = opts;
  check(device === 'auto' || device === 'cpu' || device === 'cuda', `device must be 'auto', 'cpu' or 'cuda', got '${String(device)}'`);
  check(gpu === undefined || (Number.isInteger(gpu) && gpu >= 0), `gpu must be a GPU index ≥ 0, got ${String(gpu)}`);
  if (signal?.aborted) throw new CancelledError();
  const cancel = new Int32Array(1);
  const onAbort = (): void => void Atomics.store(cancel, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn({ ...fields, cancel, onProgress, device, ...(gpu === undefined ? {} : { gpu }) });
  } catch (e) {
    // the addon rejects a cancelled call with an Error named CancelledError: the one type instead
    if (e instanceof Error && e.name === 'CancelledError') throw new CancelledError();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Runs one job of the product addon (`fn` picks it). */
export function call<R>(fn: (a: Addon) => RawJob<R>, fields: Record<string, unknown>, opts?: CallOptions): Promise<R & Ran> {
  return runJob(() => {
    const a = load();
    return (o) => fn(a).call(a, o);
  }, fields, opts);
}

/** The options of a call with no CUDA path: 'cuda' stays (and the addon says it has none), anything else runs on the CPU. */
export function cpuUnlessCuda(opts?: CallOptions): CallOptions {
  return { ...opts, device: opts?.device === 'cuda' ? 'cuda' : 'cpu' };
}
