/**
 * The resolved recipe: what the runner consumes after `analyze()`. Imports are merged, defaults and
 * presets applied, paths made absolute, data-set names checked, and, when the model's layer
 * inventory was available, each stage's layer selection and per-layer parameters resolved.
 * Every item carries the source range it came from so that run-time errors can point at it.
 */
import type { Position } from './diagnostics';

/** Where an item was written: file (absolute path) and zero-based LSP positions. */
export interface SourceRange {
  file: string;
  start: Position;
  end: Position;
}

export interface ResolvedRecipe {
  /** Absolute path of the recipe file analysed (imports are merged into it). */
  file: string;
  /** The model to compress; undefined only when the recipe has an error QR113. */
  model?: ResolvedModel;
  /** Named data sets, in declaration order (imports first). */
  datasets: ResolvedDataset[];
  /** Stages in execution order. */
  stages: ResolvedStage[];
}

export interface ResolvedModel {
  /** Absolute path of the .onnx file (external data files are looked up next to it). */
  path: string;
  /** The `model` line. */
  range: SourceRange;
}

/** Where a data set's samples come from. All paths are absolute. */
export type DatasetSource =
  /** A text file; `tokenizer` is byte-level or a Hugging Face tokenizer.json. */
  | { kind: 'text'; path: string; tokenizer: 'byte' | { path: string } }
  /** A folder of images with one sub-folder per class. */
  | { kind: 'images'; path: string }
  /** An IDX image file (optionally .gz) and its IDX label file. */
  | { kind: 'idx'; path: string; labels: string }
  /** A folder of text-line images with a TSV of `file<TAB>text` ground truth. */
  | { kind: 'ocr'; path: string; labels: string };

export interface ResolvedDataset {
  /** The name stages and metrics refer to (`on NAME`). */
  name: string;
  /** What to read and how. */
  source: DatasetSource;
  /** Samples drawn (text windows, images, lines). Default 128. */
  samples: number;
  /** Tokens per text window (text sets only). Default 2048. */
  seqlen: number;
  /** Seed of the random sample choice. Default 0. */
  seed: number;
  /** The whole `data NAME { ... }` item. */
  range: SourceRange;
}

/** A layer pattern as written (glob, `re:` regex, op name or exact name). */
export interface ResolvedPattern {
  /** The pattern as written, `re:` prefix included. */
  text: string;
  /** How it matches (see patterns.ts): regex from the start of the name, whole-name glob, op name, exact name. */
  kind: 'regex' | 'glob' | 'op' | 'name';
  /** The pattern string in the recipe. */
  range: SourceRange;
}

export interface LayerSelection {
  /** Patterns selecting layers; empty means the default (every MatMul, Gemm and Conv). */
  targets: ResolvedPattern[];
  /** Patterns removing layers from the targets. */
  ignore: ResolvedPattern[];
  /** Names of the selected layers in inventory order; undefined when no inventory was available. */
  layers?: string[];
}

/** Quantization parameters (a stage's, a preset's or one layer's after overrides). */
export interface QuantParams {
  /** Bit width, 2–8. */
  bits: number;
  /** Group size along the input dimension, or one group per output row. */
  group: number | 'channel';
  /** Zero point fixed at mid-range (true) or fitted per group (false). */
  symmetric: boolean;
  /** GPTQ act-order (columns by decreasing Hessian diagonal). */
  actorder: boolean;
  /** Hessian dampening as a fraction of mean(diag H). */
  dampening: number;
  /** Columns per lazy-update block (GPTQ). */
  block: number;
  /** Fraction of largest-magnitude weights kept in FP16. */
  outliers: number;
}

/** Pruning parameters of a stage or of one layer after overrides. */
export interface PruneParams {
  /** Fraction of weights set to zero (for N:M: n/m). */
  sparsity: number;
  /** Unstructured, or n zeros in every m consecutive input columns of a row. */
  pattern: 'unstructured' | { n: number; m: number };
  dampening: number;
  block: number;
}

export interface AllocateParams {
  /** Weight memory of the selected layers (bytes, scales/zeros/outliers included) or average code bits. */
  budget: { kind: 'bytes'; bytes: number } | { kind: 'bits'; bits: number };
  /** Bit widths a layer may get, ascending. */
  candidates: number[];
  /** Sensitivity measure (see the `metric` key in schema.ts). */
  metric: 'gradient' | 'taylor' | 'fisher' | 'hessian' | 'measured';
  /** Fraction of largest-magnitude weights kept in FP16 per layer. */
  outliers: number;
  /** Group size of the quantizer used for every candidate width. */
  group: number | 'channel';
  /** Zero point fixed at mid-range (true) or fitted per group (false). */
  symmetric: boolean;
  /** How the layers are quantized at their allocated widths (see the `quantizer` key). */
  quantizer: 'rtn' | 'gptq';
}

/** `override "pattern" { ... }`: the keys written in it only. */
export interface ResolvedOverride<P> {
  /** Which selected layers it applies to. */
  pattern: ResolvedPattern;
  /** Only the keys written in the override block; later overrides win. */
  params: Partial<P>;
  /** Selected layers it applies to (with an inventory). */
  layers?: string[];
  /** The whole `override "..." { ... }` entry. */
  range: SourceRange;
}

interface StageBase {
  /** Position in the execution order, from 0. */
  index: number;
  /** The whole stage item (header and block). */
  range: SourceRange;
}

export interface PruneStage extends StageBase {
  kind: 'prune';
  method: 'magnitude' | 'wanda' | 'sparsegpt';
  /** Calibration data set name (undefined for magnitude). */
  data?: string;
  /** Layers the stage applies to. */
  selection: LayerSelection;
  /** Stage-level parameters after defaults (N:M sets sparsity to N/M). */
  params: PruneParams;
  /** Per-layer overrides in the order written. */
  overrides: ResolvedOverride<PruneParams>[];
  /** Effective parameters of each selected layer (with an inventory). */
  perLayer?: Record<string, PruneParams>;
}

export interface QuantizeStage extends StageBase {
  kind: 'quantize';
  method: 'rtn' | 'gptq';
  /** Calibration data set name (undefined for rtn). */
  data?: string;
  /** Layers the stage applies to. */
  selection: LayerSelection;
  /** Stage-level parameters after defaults, then the preset, then the keys written. */
  params: QuantParams;
  /** Per-layer overrides in the order written. */
  overrides: ResolvedOverride<QuantParams>[];
  /** Effective parameters of each selected layer (with an inventory). */
  perLayer?: Record<string, QuantParams>;
}

export interface AllocateStage extends StageBase {
  kind: 'allocate';
  method: 'llm-mq';
  /** Calibration data set name. */
  data?: string;
  /** Layers that get a bit width. */
  selection: LayerSelection;
  /** Budget, candidates and quantizer settings after defaults. */
  params: AllocateParams;
  /** Overrides: `bits` pins the layers, `candidates` narrows their choices. */
  overrides: ResolvedOverride<{ bits: number; candidates: number[] }>[];
  /** Candidate widths of each selected layer after overrides (with an inventory). */
  perLayer?: Record<string, { candidates: number[] }>;
}

/** Evaluation metrics (see the evaluate keys in schema.ts). */
export type MetricName = 'perplexity' | 'accuracy' | 'cer' | 'kl' | 'size' | 'latency';

export interface EvaluateStage extends StageBase {
  kind: 'evaluate';
  /** Metrics in the order written; `data` is the data set name, where the metric uses one. */
  metrics: { metric: MetricName; data?: string; range: SourceRange }[];
}

export interface ExportStage extends StageBase {
  kind: 'export';
  /** Output format (see the `export` keyword in schema.ts). */
  format: 'onnx-matmulnbits' | 'onnx-qdq' | 'onnx-fakequant';
  /** Absolute output path. */
  path: string;
}

export type ResolvedStage = PruneStage | QuantizeStage | AllocateStage | EvaluateStage | ExportStage;
