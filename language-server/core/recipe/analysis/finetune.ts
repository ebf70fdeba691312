/**
 * `finetune [pv] on DATA { ... }`: fine-tuning of the compressed model by distillation. It trains
 * the quantised layers of the quantize stages before it (QR113 when there is none) and never
 * changes the model's size; its data set must feed the model like calibration does.
 */
import type { DocStage } from '../lower';
import type { ResolvedStage, SourceRange } from '../resolved';
import type { Checker } from './context';
import { finetuneParams } from './params';

export function checkFinetune(c: Checker, s: DocStage, base: { index: number; range: SourceRange }, data: string | undefined, quantizedBefore: boolean): ResolvedStage {
  if (!quantizedBefore) {
    c.rep(s.keywordLoc, 'QR113', '`finetune` trains the compressed form of quantised layers: put a `quantize` stage before it.');
  }
  return { ...base, kind: 'finetune', method: 'pv', data, params: finetuneParams(s.keys) };
}
