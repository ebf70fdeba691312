// What every stage of a run gets: the event sink, the cancel signal, the device, the model state,
// the resolved recipe and the run folder.
import type { Device } from '../../../native/index';
import type { ResolvedRecipe, ResolvedStage } from '../../../language-server/core/recipe/resolved';
import type { CalibrationRecord, LayerResult, StageKind } from '../../../language-server/core/protocol/runner';
import { throwIfAborted } from '../../../language-server/core/util/cancel';
import type { EventSink } from '../events';
import type { ModelState } from './model-state';

export interface RunContext {
  sink: EventSink;
  signal: AbortSignal;
  device: Device;
  recipe: ResolvedRecipe;
  state: ModelState;
  runDir: string;
  /** The recipe's text as analysed (a re-run's stored text, not the file on disk). */
  recipeText?: string;
  /** Per-stage warnings also kept for run.json. */
  warn(message: string): void;
  /** How each calibrated stage ran (run.json `calibration`). */
  calibration?: CalibrationRecord[];
  /** Files already at the recipe's export paths may be replaced (`qrecipe run --force`). */
  replaceExports?: boolean;
}

/** Thrown for a problem in the recipe found at run time; the runner prints it at the stage's line. */
export class StageError extends Error {
  constructor(readonly stage: ResolvedStage, message: string) {
    super(message);
    this.name = 'StageError';
  }
}

/**
 * Per-layer progress of one stage: before each layer a progress event (done/total, the layer, an
 * ETA from the mean time per layer so far), after it the layer's result as a layer event.
 */
export class LayerProgress {
  private done = 0;
  private readonly t0 = Date.now();
  /** Replaces the per-layer ETA (the block-wise driver's counts the forward passes between layers too). */
  eta?: () => number | undefined;
  /** Seconds the run should still take after this stage, when known. */
  later?: () => number | undefined;
  constructor(private readonly ctx: RunContext, private readonly stage: StageKind, private readonly total: number) {}

  private etas(): { etaSeconds?: number; runEtaSeconds?: number } {
    const elapsed = (Date.now() - this.t0) / 1000;
    const eta = this.eta ? this.eta() : this.done ? (elapsed / this.done) * (this.total - this.done) : undefined;
    if (eta === undefined) return {};
    const later = this.later?.();
    return { etaSeconds: eta, ...(later !== undefined ? { runEtaSeconds: eta + later } : {}) };
  }

  /** A progress event between layers (e.g. a block's forward passes), with the stage's ETA. */
  note(label: string): void {
    this.ctx.sink.emit({ type: 'progress', stage: this.stage, done: this.done, total: this.total, layer: label, ...this.etas() });
  }

  async run(name: string, fn: () => Promise<LayerResult | undefined>): Promise<void> {
    throwIfAborted(this.ctx.signal, this.stage);
    this.ctx.sink.emit({ type: 'progress', stage: this.stage, done: this.done, total: this.total, layer: name, ...this.etas() });
    const started = Date.now();
    const r = await fn();
    this.done++;
    if (r) {
      const result = { ...r, seconds: (Date.now() - started) / 1000 };
      this.ctx.state.results.push(result);
      this.ctx.sink.emit({ type: 'layer', stage: this.stage, result });
    }
    if (this.done === this.total) this.ctx.sink.emit({ type: 'progress', stage: this.stage, done: this.done, total: this.total, etaSeconds: 0 });
  }
}

/** A layer result's device: 'cpu', or 'cuda:N' naming the GPU when several can take layers. */
export function deviceLabel(r: { device: string; gpu?: number }): string {
  return r.device === 'cuda' && r.gpu !== undefined ? `cuda:${r.gpu}` : r.device;
}
