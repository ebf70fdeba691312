/**
 * What the sensitivity engine produces (`qrecipe sensitivity --json`, the run-store cache and the
 * Sensitivity webview all share these types) and what an allocation answers.
 */

/**
 * How a layer's sensitivity at b bits is scored:
 * - `gradient`: LLM-MQ's first-order |⟨∂L/∂W, W − Q_b(W)⟩_F| with ∂L/∂W accumulated over calibration;
 * - `taylor`: the same first-order term per calibration window, absolute value, then averaged:
 *   E_b |⟨g_b, ΔW⟩| (a labelled deviation: on a trained model the mean gradient nearly cancels);
 * - `fisher`: ½·Σ_i F_ii ΔW_i², F_ii = E_b g_{b,i}² (diagonal empirical Fisher over the same windows);
 * - `hessian`: ½·tr(ΔW H ΔWᵀ) with the calibration Hessian H = (2/n)Σ x xᵀ (a labelled deviation
 *   from LLM-MQ: a second-order proxy that needs no gradients);
 * - `measured`: the mean KL(dense ‖ quantised) over calibration tokens when this layer alone is
 *   quantised to b bits (the loss change is kept beside it in `measuredLoss`).
 */
export type SensitivityMetric = 'gradient' | 'taylor' | 'fisher' | 'hessian' | 'measured';

/** Every metric, in the order tables and views list them. */
export const SENSITIVITY_METRICS: SensitivityMetric[] = ['gradient', 'taylor', 'fisher', 'hessian', 'measured'];

/** The metrics computed from calibration gradients (language models with a gradient path only). */
export const GRADIENT_METRICS: SensitivityMetric[] = ['gradient', 'taylor', 'fisher'];

/** One layer's scores and costs at each candidate bit width. */
export interface LayerSensitivity {
  name: string;
  op: string;
  rows: number;
  cols: number;
  params: number;
  /** Candidate bit widths of this layer, ascending (after recipe overrides). */
  candidates: number[];
  /** Pinned width from an `override "..." { bits N }` of the recipe, if any. */
  pinned?: number;
  /** Metric the allocation uses for this layer, and why when it is not the one asked for. */
  metric: SensitivityMetric;
  reason?: string;
  /** Scores per metric, one per candidate (same order as `candidates`); absent metrics not computed. */
  scores: Partial<Record<SensitivityMetric, number[]>>;
  /** Fraction of weights kept as fp16 outliers at each candidate. */
  outlierFraction: number[];
  /** Measured calibration loss change at each candidate (when `measured` was computed). */
  measuredLoss?: number[];
  /** Relative quantisation error ‖ΔW‖²/‖W‖² at each candidate (outliers protected). */
  relError: number[];
  /** Weight memory at each candidate: codes, scales/zeros, outliers (bytes). */
  bytes: { codes: number; scales: number; outliers: number; total: number }[];
  /** Zero-based line range of the recipe entries that select this layer (for reveal). */
  recipeLines?: { start: number; end: number };
}

/** A model-level measurement at one allocation (uniform or allocated). */
export interface MeasuredPoint {
  label: string;
  /** Bit width per layer, in layer order. */
  bits: number[];
  bytes: number;
  averageBits: number;
  predicted: number;
  perplexity?: number;
  loss?: number;
  kl?: number;
}

export interface SensitivityResult {
  version: 1;
  /** Absolute path of the recipe, and of its model. */
  recipe: string;
  model: string;
  /** Content hashes that key the cache. */
  modelHash: string;
  dataHash: string;
  /** Calibration data set name and how much of it was used. */
  dataset: string;
  samples: number;
  /** Metric asked for by the recipe (or the command line). */
  metricAsked: SensitivityMetric;
  group: number | 'channel';
  symmetric: boolean;
  /** Default outlier fraction at the lowest candidate (LLM-MQ protects its low-bit layers). */
  outliers: number;
  /** Budget written in the recipe. */
  budget: { kind: 'bytes'; bytes: number } | { kind: 'bits'; bits: number };
  /** Index of the allocate stage in the recipe and the zero-based line of its header. */
  stage: { index: number; line: number };
  layers: LayerSensitivity[];
  /** Loss of the unquantised model on the calibration data (mean token cross-entropy). */
  baseLoss?: number;
  /** Measurements at a few allocations (uniform widths, allocations at the budget, ...). */
  measured: MeasuredPoint[];
  /** Seconds per phase, for the record. */
  seconds: Record<string, number>;
  /** Notes to show the user (fallbacks, skipped layers). */
  notes: string[];
  /** Samples of the calibration set SPADE can be run on (labels as `qrecipe spade --sample` takes them). */
  spadeSamples?: string[];
}

/** How a budget is expressed: total weight bytes of the allocated layers, or average code bits. */
export type Budget = { kind: 'bytes'; bytes: number } | { kind: 'bits'; bits: number };

export interface Allocation {
  /** Chosen width per layer (layer order of the result). */
  bits: number[];
  /** Total weight bytes (codes + scales + outliers) and average code bits. */
  bytes: number;
  averageBits: number;
  /** Σ sensitivity of the chosen widths (the predicted loss increase). */
  predicted: number;
  /** False when the budget is below the smallest possible size (all layers at their minimum). */
  feasible: boolean;
  /** Whether the solver proved this allocation optimal (false only when its state limit cut the search short, see mckp.ts). */
  exact: boolean;
  /** Certified lower bound on the optimum at this budget (= `predicted` when exact): predicted − lowerBound bounds the distance to it. */
  lowerBound: number;
}

/** One point of the budget → predicted-loss frontier, as the view draws it. */
export interface FrontierPointView {
  bytes: number;
  averageBits: number;
  predicted: number;
}

/** What the Sensitivity view shows: the engine's result and what the allocator precomputed. */
export interface SensitivityViewData {
  result: SensitivityResult;
  /** Frontier under each budget kind (with the recipe's pins). */
  frontier: { bytes: FrontierPointView[]; bits: FrontierPointView[] };
  /** Smallest and largest allocation under each kind (bytes; average code bits). */
  ranges: { bytes: { min: number; max: number }; bits: { min: number; max: number } };
  /** SPADE traces computed so far for this recipe. */
  spade: SpadeResult[];
  /** Samples SPADE can be run on (text lines, image files, OCR lines). */
  spadeSamples: string[];
}

/**
 * SPADE on one sample: the pruned "trace" network's saliency next to the dense model's, per-layer
 * fidelity and sparsity, and whether the trace still behaves like the dense model on this sample.
 */
export interface SpadeResult {
  version: 1;
  model: string;
  sample: string;
  /** Tokens (text models: one label per token) or an image grid (pixels, row-major). */
  input: { kind: 'tokens'; tokens: string[] } | { kind: 'image'; width: number; height: number };
  /** Saliency method used and why (e.g. no gradient rule for an op → occlusion). */
  method: 'gradient-x-input' | 'integrated-gradients' | 'occlusion';
  reason?: string;
  /** Saliency per token / pixel patch (`method`). */
  saliency: { dense: number[]; trace: number[] };
  /** Integrated gradients per token (zero-embedding baseline), when gradients are available. */
  integrated?: { dense: number[]; trace: number[] };
  /** Per pruned layer: target and achieved sparsity, fidelity ‖WX − W′X‖²/‖WX‖² on the sample. */
  layers: { name: string; target: number; sparsity: number; fidelity: number; importance?: number[] }[];
  /** KL(dense ‖ trace) of the output distribution at the target position, and the top-1 tokens/classes. */
  faithfulness: { kl: number; top1Dense: string; top1Trace: string; unchanged: boolean };
  augmentations: number;
  seconds: number;
}
