/**
 * The runner protocol: what every long `qrecipe` command writes to stdout with `--json-events` (one
 * JSON object per line: `run`, `sensitivity`, `spade`) and what the extension host reads; plus the
 * run store's `run.json` record. The extension spawns the runner (`dist/cli.js run FILE
 * --json-events`) and may write `{"type":"cancel"}` lines to its stdin; SIGINT has the same effect.
 * A run starts with `run-start`; every command ends with `run-end`; `sensitivity` and `spade` send
 * their answer as one `result` event before it. Readers validate each line with `isRunnerEvent`.
 * Bump RUNNER_PROTOCOL_VERSION on any incompatible change.
 */
import type { SensitivityResult, SpadeResult } from '../sensitivity/types';

export const RUNNER_PROTOCOL_VERSION = 1;

/**
 * The `code` of the `log` error `qrecipe run` emits, before any compute and without a run folder,
 * for each export path of the recipe that holds a file already (no `--force`): VS Code asks, then
 * runs again with `--force`.
 */
export const EXPORT_EXISTS_CODE = 'QR401';

/** Stages of a run, and the analyses that report progress the same way. */
export type StageKind = 'load' | 'calibrate' | 'prune' | 'quantize' | 'allocate' | 'finetune' | 'evaluate' | 'export' | 'sensitivity' | 'spade';
const STAGE_KINDS = new Set<string>(['load', 'calibrate', 'prune', 'quantize', 'allocate', 'finetune', 'evaluate', 'export', 'sensitivity', 'spade']);

/** Metric values keyed by metric name, e.g. { perplexity: 5.1, bitsPerByte: 2.35, sizeBytes: 1.2e6 }. */
export type Metrics = Record<string, number>;

export type RunnerEvent =
  /** First line of every run: where its artifacts live. */
  | { type: 'run-start'; protocol: number; runId: string; runDir: string; recipe: string; device: string; time: string }
  | { type: 'stage-start'; stage: StageKind; index: number; label: string }
  | { type: 'stage-end'; stage: StageKind; index: number; seconds: number }
  /** Progress inside a stage (per layer, or per step of `label`'s phase); `etaSeconds` estimates the rest of it, `runEtaSeconds` the rest of the run (when known). */
  | { type: 'progress'; stage: StageKind; done: number; total: number; layer?: string; label?: string; etaSeconds?: number; runEtaSeconds?: number }
  | { type: 'layer'; stage: StageKind; result: LayerResult }
  | { type: 'metrics'; model: 'original' | 'compressed' | 'exported'; dataset?: string; metrics: Metrics }
  /** `code` is a diagnostic's (QR102...); a located log prints as `file:line:col: level CODE: message`. */
  | { type: 'log'; level: 'info' | 'warning' | 'error'; message: string; code?: string; file?: string; line?: number; column?: number }
  | { type: 'artifact'; kind: 'model' | 'export' | 'report'; path: string; bytes: number }
  /** The run refused to write these paths (before anything ran): outside the workspace or over an
   *  existing file (the user may allow: `--allow-outside`, `--force`), or over an input or into the
   *  run store (never). Followed by `log` errors and `run-end` failed. */
  | { type: 'write-refused'; problems: { kind: 'outside' | 'exists' | 'protected'; path: string; message: string }[] }
  /** The answer of an analysis command (`sensitivity`, `spade`), just before `run-end`. */
  | { type: 'result'; command: 'sensitivity'; data: SensitivityResult }
  | { type: 'result'; command: 'spade'; data: SpadeResult }
  /** Last line of every run and command. A recipe that fails its check before any compute emits only `log`
   *  events (errors located at file/line/column) and `run-end`: no run-start, no run folder. */
  | { type: 'run-end'; status: RunStatus; seconds: number; error?: string };

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
const END_STATUSES = new Set<string>(['succeeded', 'failed', 'cancelled']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (v: unknown): v is string => typeof v === 'string';
const opt = <T>(v: unknown, is: (x: unknown) => x is T): boolean => v === undefined || is(v);

/**
 * Whether a parsed line is a well-formed RunnerEvent: its type known and the fields its readers use
 * of the right kinds (a `result`'s data is checked for the fields the views read first).
 */
export function isRunnerEvent(v: unknown): v is RunnerEvent {
  if (!isObj(v) || !str(v.type)) return false;
  switch (v.type) {
    case 'run-start': return num(v.protocol) && str(v.runId) && str(v.runDir) && str(v.recipe) && str(v.device) && str(v.time);
    case 'stage-start': return str(v.stage) && STAGE_KINDS.has(v.stage) && num(v.index) && str(v.label);
    case 'stage-end': return str(v.stage) && STAGE_KINDS.has(v.stage) && num(v.index) && num(v.seconds);
    case 'progress': return str(v.stage) && STAGE_KINDS.has(v.stage) && num(v.done) && num(v.total) && opt(v.layer, str) && opt(v.label, str) && opt(v.etaSeconds, num) && opt(v.runEtaSeconds, num);
    case 'layer': return str(v.stage) && isObj(v.result) && str(v.result.name);
    case 'metrics': return (v.model === 'original' || v.model === 'compressed' || v.model === 'exported') && opt(v.dataset, str)
      && isObj(v.metrics) && Object.values(v.metrics).every((x) => typeof x === 'number');
    case 'log': return (v.level === 'info' || v.level === 'warning' || v.level === 'error') && str(v.message) && opt(v.code, str)
      && opt(v.file, str) && opt(v.line, num) && opt(v.column, num);
    case 'artifact': return (v.kind === 'model' || v.kind === 'export' || v.kind === 'report') && str(v.path) && num(v.bytes);
    case 'write-refused': return Array.isArray(v.problems) && v.problems.every((p) => isObj(p)
      && (p.kind === 'outside' || p.kind === 'exists' || p.kind === 'protected') && str(p.path) && str(p.message));
    case 'result':
      if (!isObj(v.data) || v.data.version !== 1) return false;
      if (v.command === 'sensitivity') return str(v.data.recipe) && Array.isArray(v.data.layers) && Array.isArray(v.data.measured) && isObj(v.data.budget);
      if (v.command === 'spade') return str(v.data.sample) && isObj(v.data.saliency) && Array.isArray(v.data.layers) && isObj(v.data.faithfulness);
      return false;
    case 'run-end': return str(v.status) && END_STATUSES.has(v.status) && num(v.seconds) && opt(v.error, str);
    default: return false;
  }
}

/** What one stage did to one layer. */
export interface LayerResult {
  name: string;
  bits?: number;
  groupSize?: number;
  sparsity?: number;
  /** The method's own layer loss (e.g. GPTQ's Σ(w−q)²/d²/2), when it has one. */
  loss?: number;
  /** ‖WX − ŴX‖² / ‖WX‖² on calibration inputs, when measured. */
  relError?: number;
  outlierFraction?: number;
  method?: string;
  device?: string;
  seconds?: number;
}

/** `.qrecipe/runs/<time>-<recipe>/run.json`, written atomically at start (status running) and end. */
export interface RunRecord {
  id: string;
  status: RunStatus;
  recipePath: string;
  recipeText: string;
  recipeHash: string;
  /** Texts of the recipes `recipeText` imports (absolute path → text): with it, the run can be re-run as it was. */
  importTexts?: Record<string, string>;
  /** The run this one re-ran from its stored recipe (`qrecipe run --rerun`, the Runs view's Re-run). */
  rerunOf?: string;
  modelPath: string;
  modelHash: string;
  dataHashes: Record<string, string>;
  seed: number;
  versions: { qrecipe: string; addon?: string; onnxruntime: string; node: string };
  device: string;
  pid: number;
  /** Identity of the runner process beside its pid (Linux: boot id and start time), so a reused pid is not taken for it. */
  pidStart?: string;
  startedAt: string;
  endedAt?: string;
  stageSeconds: Partial<Record<StageKind, number>>;
  metrics: { original?: Metrics; compressed?: Metrics; exported?: Metrics };
  layers: LayerResult[];
  artifacts: {
    /** The compressed (fake-quant, pruned) model, relative to the run folder. */
    compressedModel?: string;
    /** `quant.bin`: codes, scales and zeros of the quantised layers (what `qrecipe export RUN` packs). */
    quant?: string;
    exports: ExportRecord[];
    log: string;
  };
  error?: string;
  /** The recipe's settings as short values (core/runs/labels.ts `recipeSettings`), to tell runs apart. */
  settings?: Record<string, string>;
  /** Warnings of the run (also in run.log), e.g. layers an export left in float. */
  warnings?: string[];
  /** How each calibrated stage ran (block by block or through the whole model) and where its time went. */
  calibration?: CalibrationRecord[];
  /** The runner process's peak resident memory and CPU time. */
  resources?: { peakRssMB: number; cpuSeconds: number };
  /** Each `finetune` stage: its loss curve and what it changed. */
  finetune?: FinetuneRecord[];
}

/** A fine-tuning stage's result: the distillation loss per step (nats per position) and the codes it changed. */
export interface FinetuneRecord {
  /** Index of the stage in the recipe. */
  stage: number;
  steps: number;
  seconds: number;
  /**
   * Mean KL before and after training on the same `measuredOn` batches (the first of the data);
   * records without `measuredOn` (older runs): the mean of the first and of the last tenth of the
   * steps, whose batches differ.
   */
  before: number;
  after: number;
  measuredOn?: number;
  /** Per step: [step, KL on the step's batch before its update, code units re-assigned]. */
  curve: [number, number, number][];
  codesChanged: number;
  codeUnits: number;
  /** Layers trained, and float tensors (norms, biases) trained. */
  layers: number;
  tensors: number;
}

/** One calibrated stage: its driver, passes, time by phase and memory. */
export interface CalibrationRecord {
  stage: StageKind;
  /** 'blockwise': parts cut from the graph; 'whole-model': the model once per group; 'one-pass'. */
  driver: 'blockwise' | 'whole-model' | 'one-pass';
  blocks?: number;
  passes: number;
  seconds: number;
  /** Block-wise only: onnxruntime passes, Hessian accumulation, the stage's own compression (GPTQ, ...). */
  forwardSeconds?: number;
  hessianSeconds?: number;
  compressSeconds?: number;
  provider: string;
  hessianBackend: string;
  /** Block-wise only: peak bytes of cached activations in memory, and spilled to the scratch folder. */
  activationMemoryMB?: number;
  activationSpilledMB?: number;
  peakRssMB: number;
}

/**
 * One exported file and its verification (`verified`: onnxruntime-node loaded it). The export is
 * written into the run folder (`runCopy`) and copied to `path`; `sha256` identifies it, so a file
 * at `path` that another run (or anything) replaced since is told apart from this run's.
 */
export interface ExportRecord {
  path: string;
  format: string;
  bytes: number;
  /** This run's copy, relative to the run folder (`exports/<k>/<name>`), kept whatever happens to `path`. */
  runCopy?: string;
  /** Modification time of the file at `path` when this run wrote it (ms), and the side file's bytes. */
  mtimeMs?: number;
  externalBytes?: number;
  /** sha256 of the .onnx file (and of its external-data side file, when it has one). */
  sha256?: string;
  externalSha256?: string;
  /** The model size the cost model predicted for this format (the `size` metric's definition). */
  predictedBytes?: number;
  verified?: boolean;
  /** Bytes of the quantised layers' tensors in the file (codes, scales, zeros) and as float32. */
  quantizedBytes?: number;
  quantizedFloatBytes?: number;
  /** 8·quantizedBytes / parameters of the quantised layers. */
  bitsPerWeight?: number;
  /** The exported model's metric against the fake-quant evaluation of the same data. */
  check?: { metric: string; dataset?: string; exported: number; fakeQuant: number; relDiff: number; ok: boolean };
  /** How each quantised layer was written (MatMulNBits, DequantizeLinear, Cast/Sub/Mul or float). */
  layers?: { name: string; encoding: string; bits: number; storedBits?: number; bytes: number }[];
  /** Files written beside the export: Hugging Face / genai companions and the README. */
  deployFiles?: string[];
}
