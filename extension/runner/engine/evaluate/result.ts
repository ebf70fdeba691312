/** The common shape of every evaluation result. */
import type { OpenedSession, Provider } from './session';

export interface EvalResult {
  metric: 'perplexity' | 'accuracy' | 'cer' | 'kl' | 'latency' | 'size';
  /** The metric's headline value (perplexity, accuracy in [0,1], CER, mean KL, median ms, bytes). */
  value: number;
  /** Metric-specific numbers (bits per byte, top-1 agreement, p90, ...). */
  details: Record<string, number | string>;
  /** Samples evaluated (windows, images, lines, runs). */
  samples: number;
  throughput?: { value: number; unit: 'tokens/s' | 'images/s' | 'lines/s' | 'samples/s' };
  provider?: Provider;
  fallbacks?: string[];
  seconds: number;
  peakRssMB: number;
  peakArrayBuffersMB: number;
}

export interface EvalOptions {
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; label?: string }) => void;
  provider?: 'auto' | Provider;
  /** An already opened session of the model (left open); otherwise one is opened and released. */
  session?: OpenedSession;
}
