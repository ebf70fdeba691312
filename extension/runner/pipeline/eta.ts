// Time estimates at scale. Block-wise calibration: every block costs about the same (same shapes,
// same batches), so once the first block is done, the rest of the stage is the time per block
// (mean of the last three) times the blocks left, minus what the current block has already spent;
// the current block's own ETA is that time minus what it spent. Before the first block ends there is no estimate. The rest of
// the run adds what later stages should take, from the forward rate calibration measured.
import type { PartEvent } from '../engine/calibrate/blockwise';

export class BlockEta {
  private readonly started: number;
  private groupStart: number;
  private current = -1;
  private readonly durations: number[] = [];
  private groups = 0;
  /** Forward (part-run) seconds per batch, measured, for estimating evaluation through the chain. */
  private forwardBatch: { seconds: number; batches: number } = { seconds: 0, batches: 0 };
  private phaseStart: number;
  private phase?: PartEvent['phase'];

  /** @param now the clock (milliseconds), replaceable for tests */
  constructor(private readonly now: () => number = Date.now) {
    this.started = this.groupStart = this.phaseStart = now();
  }

  onPart(e: PartEvent): void {
    const now = this.now();
    this.groups = e.groups;
    if (e.group >= 0 && e.group !== this.current) {
      if (this.current >= 0) this.durations.push((now - this.groupStart) / 1000);
      this.current = e.group;
      this.groupStart = now;
    }
    if (e.phase !== this.phase || e.done === 0) { this.phase = e.phase; this.phaseStart = now; }
    if (e.phase === 'forward' && e.done === e.total && e.total > 0) {
      this.forwardBatch.seconds += (now - this.phaseStart) / 1000;
      this.forwardBatch.batches += e.total;
    }
  }

  /** Seconds per block: the mean of the last three blocks done (follows a machine whose load changes); undefined before the first. */
  get perBlock(): number | undefined {
    const last = this.durations.slice(-3);
    return last.length ? last.reduce((a, b) => a + b, 0) / last.length : undefined;
  }

  /** Seconds left in the current block. */
  blockEta(): number | undefined {
    const m = this.perBlock;
    return m === undefined ? undefined : Math.max(0, m - (this.now() - this.groupStart) / 1000);
  }

  /** Seconds left in the stage. */
  stageEta(): number | undefined {
    const m = this.perBlock;
    if (m === undefined) return undefined;
    const after = Math.max(0, this.groups - this.current - 1);
    return this.blockEta()! + after * m;
  }

  /** Seconds one part takes to run one batch forward (measured on the compressed forward passes). */
  get forwardSecondsPerBatch(): number | undefined {
    return this.forwardBatch.batches ? this.forwardBatch.seconds / this.forwardBatch.batches : undefined;
  }

  get elapsed(): number {
    return (this.now() - this.started) / 1000;
  }
}
