/** What an analysis returns (analyze.ts): the diagnostics, the resolved recipe, and what the editor shows. */
import type { LayerInfo, ModelInventory } from '../../model/types';
import type { Diagnostic } from '../diagnostics';
import type { Doc } from '../lower';
import type { ParseResult } from '../parser';
import type { ResolvedRecipe, SourceRange } from '../resolved';
import type { ExportFormat } from '../../cost/formats';

/** Layers matched by one pattern written in the analysed file (for hover). */
export interface PatternInfo { start: number; end: number; role: 'targets' | 'ignore' | 'override'; layers: LayerInfo[] }
/** A name or path reference in the analysed file and what it points to (go to definition). */
export interface Reference { start: number; end: number; target: SourceRange }
/**
 * Estimated model after a stage written in the analysed file (inlay hints): its file size in the
 * recipe's export format and the bits per weight of its quantised layers (core/cost's definitions).
 */
export interface StageEstimate { offset: number; bytes: number; bitsPerWeight?: number; format: ExportFormat; note?: string }

/**
 * The result of `analyze`. Layer lists, per-layer records and lowered stages in it may be shared with
 * other analyses (memoised per inventory and per unchanged item): read them, never mutate them.
 */
export interface Analysis {
  file: string;
  parse: ParseResult;
  doc: Doc;
  /** Every diagnostic of the analysed file, sorted by offset (imports' problems are attached to the `use`). */
  diagnostics: Diagnostic[];
  recipe: ResolvedRecipe;
  inventory?: ModelInventory;
  patterns: PatternInfo[];
  references: Reference[];
  estimates: StageEstimate[];
  /** Data set and preset names visible in the file (imports included), for completion. */
  datasets: string[];
  presets: string[];
  /** Absolute paths of the recipes this one imports, directly or not (inputs a run never writes over). */
  imports: string[];
}
