// Calibration statistics for the layers of a stage. Stopgap until the model layer's capture lands.
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { StageKind } from '../../../language-server/core/protocol/runner';
import type { RunContext } from './context';
import type { LayerStats } from './quantize';

export async function calibrate(ctx: RunContext, stage: StageKind, dataset: ResolvedDataset, layers: string[],
  visit: (group: string[], stats: Map<string, LayerStats>) => Promise<void>): Promise<void> {
  void ctx; void stage; void dataset; void layers; void visit;
  throw new Error('calibration capture is not available yet');
}
