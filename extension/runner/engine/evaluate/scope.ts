/**
 * What every evaluation shares: a session (opened here unless the caller lent one, and then only
 * released when it was opened here), the model's inputs and outputs, and the result's provider,
 * fallbacks, time and peak-memory fields.
 */
import type * as ort from 'onnxruntime-node';
import { openSession, MemoryPeak, type OpenedSession, type ProviderChoice } from './session';
import { describeIo, type ModelIo } from './io';

export interface EvalScope {
  session: ort.InferenceSession;
  io: ModelIo;
  mem: MemoryPeak;
  /** The fields every EvalResult carries, measured up to the moment of the call. */
  common(): { provider: OpenedSession['provider']; fallbacks: string[]; seconds: number; peakRssMB: number; peakArrayBuffersMB: number };
}

export async function withEvalSession<T>(model: string, opts: { session?: OpenedSession; provider?: ProviderChoice }, body: (scope: EvalScope) => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const mem = new MemoryPeak();
  const { session, provider, fallbacks } = opts.session ?? await openSession(model, { provider: opts.provider });
  try {
    const io = describeIo(session, model);
    return await body({ session, io, mem, common: () => ({ provider, fallbacks, seconds: (performance.now() - t0) / 1000, ...mem.toJSON() }) });
  } finally {
    if (!opts.session) await session.release();
  }
}
