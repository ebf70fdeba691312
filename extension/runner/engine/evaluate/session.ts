/**
 * onnxruntime sessions with an automatically chosen execution provider: CUDA, then WebGPU, when
 * onnxruntime lists them and a session actually opens; CPU otherwise. The provider used (and why
 * a faster one was not) is part of every evaluation result.
 */
import * as ort from 'onnxruntime-node';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadModel } from '../../../../language-server/core/model/reader';
import { hasBfloat16, writeFloat32Twin } from './bf16-twin';

export type Provider = 'cpu' | 'cuda' | 'webgpu';
/**
 * Where forward passes run, as `--provider`, QRECIPE_EXECUTION_PROVIDER and the
 * `qrecipe.executionProvider` setting say: an onnxruntime provider, `auto`, or `native` (the
 * addon's graph executor for the parts of a chain it supports: blocks/native-graph.ts; whole-model
 * sessions then run as with `auto`).
 */
export const PROVIDER_CHOICES = ['auto', 'cpu', 'webgpu', 'cuda', 'native'] as const;
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

export function isProviderChoice(p: unknown): p is ProviderChoice {
  return typeof p === 'string' && (PROVIDER_CHOICES as readonly string[]).includes(p);
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Why the providers tried before this one were not used. */
  fallbacks: string[];
  /** A bfloat16 model the CPU provider runs as its float32 twin (bf16-twin.ts): inputs and outputs are float32. */
  float32Twin?: boolean;
}

export interface SessionOptions {
  provider?: ProviderChoice;
  /** Extra onnxruntime session options (threads, optimisation level, ...). */
  ort?: ort.InferenceSession.SessionOptions;
}

function listed(): Map<string, boolean> {
  try {
    return new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  } catch {
    return new Map([['cpu', true]]);
  }
}

/**
 * Why a listed GPU provider cannot work here, checked without trying it (a failed attempt makes
 * the native library print to stderr): a provider onnxruntime does not bundle needs its shared
 * library beside the binding; any GPU provider needs a GPU device node.
 */
function unusable(provider: Provider, bundled: boolean): string | undefined {
  if (provider === 'cpu') return undefined;
  const dir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  if (!bundled) {
    const bin = path.join(dir, 'bin', 'napi-v6', process.platform, process.arch);
    if (!existsSync(path.join(bin, `libonnxruntime_providers_${provider}.so`)) && !existsSync(path.join(bin, `onnxruntime_providers_${provider}.dll`))) {
      return `onnxruntime's ${provider} provider library is not installed`;
    }
  }
  const devices = process.platform === 'linux' ? ['/dev/nvidia0', '/dev/dri', '/dev/dxg'] : [];
  if (process.platform === 'linux' && !devices.some((d) => existsSync(d))) return 'no GPU device found';
  return undefined;
}

/** Providers that failed once are not retried in this process. */
const broken = new Map<Provider, string>();

/**
 * Defaults a process inherits from its environment: the runner the extension spawns gets the
 * user's `qrecipe.executionProvider` and `qrecipe.threads` settings this way.
 */
function environmentDefaults(): { provider?: ProviderChoice; threads?: number } {
  const p = process.env.QRECIPE_EXECUTION_PROVIDER;
  const t = Number(process.env.QRECIPE_THREADS);
  return {
    provider: isProviderChoice(p) ? p : undefined,
    threads: Number.isInteger(t) && t > 0 ? t : undefined,
  };
}

/** The provider asked for: the caller's, else the environment's, else 'auto'. */
export function providerChoice(asked?: ProviderChoice): ProviderChoice {
  return asked ?? environmentDefaults().provider ?? 'auto';
}

/** Opens `model` (a path or the bytes of a model) on the best available provider ('native' opens it as 'auto' does). */
export async function openSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<OpenedSession> {
  const env = environmentDefaults();
  const asked = providerChoice(opts.provider);
  const choice = asked === 'native' ? 'auto' : asked;
  const have = listed();
  const order: Provider[] = choice === 'auto' ? (['cuda', 'webgpu', 'cpu'] as Provider[]).filter((p) => p === 'cpu' || have.has(p)) : [choice];
  for (const p of order) {
    const why = broken.has(p) ? undefined : unusable(p, have.get(p) ?? false);
    if (why) broken.set(p, why);
  }
  if (!order.includes('cpu')) order.push('cpu');
  const fallbacks: string[] = [];
  for (const provider of order) {
    const known = broken.get(provider);
    if (known) { fallbacks.push(`${provider}: ${known}`); continue; }
    const options: ort.InferenceSession.SessionOptions = {
      logSeverityLevel: 3, ...(env.threads ? { intraOpNumThreads: env.threads } : {}), ...opts.ort, executionProviders: [provider],
    };
    try {
      const session = typeof model === 'string'
        ? await ort.InferenceSession.create(model, options)
        : await ort.InferenceSession.create(model, options);
      return { session, provider, fallbacks };
    } catch (err) {
      const why = ((err as Error).message ?? String(err)).split('\n')[0]!.slice(0, 200);
      if (provider === 'cpu') {
        // Our reader names the file and the problem (truncated, not ONNX, missing side file) better.
        const m = typeof model === 'string' ? await loadModel(model) : undefined;
        const bf16 = m && /NOT_IMPLEMENTED|Could not find an implementation/.test(why) && hasBfloat16(m);
        if (bf16 && typeof model === 'string') {
          const twin = await openTwin(model, options).catch((e: unknown) => e as Error);
          if (!(twin instanceof Error)) return { session: twin, provider, fallbacks: [...fallbacks, `cpu: the bfloat16 model runs as its float32 twin (${why})`], float32Twin: true };
          throw new Error(`${model}: onnxruntime cannot load the model (${why}); the model is bfloat16, which onnxruntime's CPU provider has no kernels for, and its float32 twin failed too (${twin.message.split('\n')[0]})`);
        }
        throw new Error(`${typeof model === 'string' ? model : 'model'}: onnxruntime cannot load the model (${why})`);
      }
      broken.set(provider, why);
      fallbacks.push(`${provider}: ${why}`);
    }
  }
  throw new Error('no execution provider could open the model');
}

/** A session on the float32 twin of a bfloat16 model (the twin's files are removed once it is open). */
async function openTwin(model: string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  const files = await writeFloat32Twin(model);
  try {
    return await ort.InferenceSession.create(files[0]!, options);
  } finally {
    for (const f of files) rmSync(f, { force: true });
  }
}

/** Rough peak-memory tracker: samples the process at checkpoints. */
export class MemoryPeak {
  rss = 0;
  arrayBuffers = 0;
  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.rss) this.rss = m.rss;
    if (m.arrayBuffers > this.arrayBuffers) this.arrayBuffers = m.arrayBuffers;
  }
  toJSON(): { peakRssMB: number; peakArrayBuffersMB: number } {
    return { peakRssMB: Math.round(this.rss / 1048576), peakArrayBuffersMB: Math.round(this.arrayBuffers / 1048576) };
  }
}

/** session.run with an error that names the model and what was being run. */
export async function runSession(
  session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, model: string, what: string, fetches?: string[],
): Promise<ort.InferenceSession.ReturnType> {
  try {
    const quiet: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };
    return fetches ? await session.run(feeds, fetches, quiet) : await session.run(feeds, quiet);
  } catch (err) {
    const shapes = Object.entries(feeds).map(([k, t]) => `${k} [${t.dims.join(', ')}]`).join(', ');
    throw new Error(`${model}: onnxruntime failed on ${what} (inputs ${shapes}): ${((err as Error).message ?? String(err)).split('\n')[0]}`);
  }
}
