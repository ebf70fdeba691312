/**
 * Custom LSP methods of the QRecipe language server (the standard ones need no declaration): one
 * typed `RequestType` per method, imported by the server (language-server/server/main.ts and
 * custom-requests.ts) and by the extension's client (extension/src/lsp.ts), so both sides share one
 * method name and one parameter and result type. Adding a method here without a handler on the
 * server fails test/lsp/custom-requests.test.ts.
 */
import { RequestType } from 'vscode-languageserver-protocol';
import type { Range, TextEdit } from 'vscode-languageserver-protocol';
import type { ResolvedRecipe } from '../recipe/resolved';
import type { ModelSummary } from '../model/summary';

/**
 * The resolved recipe of an open `.qrecipe` document, as the runner would consume it, with the
 * count of error and warning diagnostics (a run should not start when `errors` is not 0).
 * Check Recipe asks this.
 */
export interface ResolvedRecipeParams { uri: string }
export interface ResolvedRecipeResult { recipe: ResolvedRecipe; errors: number; warnings: number }
export const resolvedRecipe = new RequestType<ResolvedRecipeParams, ResolvedRecipeResult | null, void>('qrecipe/resolvedRecipe');

/**
 * What a model file holds: its float layers (the inventory the checker uses), the layers a
 * compressed export carries (MatMulNBits, DequantizeLinear, Cast/Sub/Mul with bits, group, bytes)
 * and the provenance a QRecipe export writes into it (source model, recipe, run). Models view and
 * Inspect Model ask this; the server reads the file (never the extension host).
 */
export interface ModelSummaryParams { path: string }
export type ModelSummaryResult = { summary: ModelSummary } | { error: string };
export const modelSummary = new RequestType<ModelSummaryParams, ModelSummaryResult, void>('qrecipe/modelSummary');

/**
 * A first recipe for a model (New Recipe from Model, Try the Quickstart with a workspace model):
 * the data sets point at `data` files when given (paths relative to the recipe), else at
 * placeholders that the recipe's comments name.
 */
export interface ScaffoldParams {
  model: string;
  recipe: string;
  data?: { calib?: string; heldout?: string };
}
export type ScaffoldResult = { text: string } | { error: string };
export const scaffoldRecipe = new RequestType<ScaffoldParams, ScaffoldResult, void>('qrecipe/scaffoldRecipe');

/** The `allocate` stages of an open recipe, with the ranges the Sensitivity view reveals. */
export interface AllocateStagesParams { uri: string }
export interface AllocateStageInfo {
  index: number;
  /** The stage's header line (zero-based) and its whole range. */
  line: number;
  range: Range;
  /** The stage keyword (what Reveal selects when no override names the layer). */
  keywordRange: Range;
  overrides: { pattern: string; range: Range }[];
}
export const allocateStages = new RequestType<AllocateStagesParams, AllocateStageInfo[], void>('qrecipe/allocateStages');

/**
 * Edits that write an allocation (layer → bit width) into the `stage`-th allocate stage of an open
 * recipe: one override per layer and the budget set to the allocation's average width, so that the
 * edited recipe checks clean. Throws (an LSP error) when the recipe has no such stage.
 */
export interface AllocationEditsParams {
  uri: string;
  stage: number;
  bits: Record<string, number>;
}
export interface AllocationEditsResult { edits: TextEdit[]; budget: string }
export const allocationEdits = new RequestType<AllocationEditsParams, AllocationEditsResult, void>('qrecipe/allocationEdits');

/** Every custom method, for the test that checks the server answers each. */
export const CUSTOM_REQUESTS = [resolvedRecipe, modelSummary, scaffoldRecipe, allocateStages, allocationEdits] as const;
