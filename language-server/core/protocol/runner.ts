/**
 * The runner protocol: what `qrecipe run --json-events` writes to stdout (one JSON object per line)
 * and what the extension host reads; plus the run store's `run.json` record. The extension spawns
 * the runner (`dist/cli.js run FILE --json-events`) and may write `{"type":"cancel"}` lines to its
 * stdin; SIGINT has the same effect. Bump RUNNER_PROTOCOL_VERSION on any incompatible change.
 */
export const RUNNER_PROTOCOL_VERSION = 1;

export type StageKind = 'load' | 'calibrate' | 'prune' | 'quantize' | 'allocate' | 'evaluate' | 'export';

/** Metric values keyed by metric name, e.g. { perplexity: 5.1, bitsPerByte: 2.35, sizeBytes: 1.2e6 }. */
export type Metrics = Record<string, number>;

export type RunnerEvent =
  /** First line of every run: where its artifacts live. */
  | { type: 'run-start'; protocol: number; runId: string; runDir: string; recipe: string; device: string; time: string }
  | { type: 'stage-start'; stage: StageKind; index: number; label: string }
  | { type: 'stage-end'; stage: StageKind; index: number; seconds: number }
  /** Per-layer progress inside a stage; `etaSeconds` estimates the rest of this stage. */
  | { type: 'progress'; stage: StageKind; done: number; total: number; layer?: string; etaSeconds?: number }
  | { type: 'layer'; stage: StageKind; result: LayerResult }
  | { type: 'metrics'; model: 'original' | 'compressed' | 'exported'; dataset?: string; metrics: Metrics }
  | { type: 'log'; level: 'info' | 'warning' | 'error'; message: string; file?: string; line?: number; column?: number }
  | { type: 'artifact'; kind: 'model' | 'export' | 'report'; path: string; bytes: number }
  /** The run refused to write these paths (before anything ran): outside the workspace or over an
   *  existing file (the user may allow: `--allow-outside`, `--force`), or over an input or into the
   *  run store (never). Followed by `log` errors and `run-end` failed. */
  | { type: 'write-refused'; problems: { kind: 'outside' | 'exists' | 'protected'; path: string; message: string }[] }
  /** Last line of every run. A recipe that fails its check before any compute emits only `log`
   *  events (errors located at file/line/column) and `run-end`: no run-start, no run folder. */
  | { type: 'run-end'; status: RunStatus; seconds: number; error?: string };

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

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
  /** Warnings of the run (also in run.log), e.g. layers an export left in float. */
  warnings?: string[];
}

/** One exported file and its verification (`verified`: onnxruntime-node loaded it). */
export interface ExportRecord {
  path: string;
  format: string;
  bytes: number;
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
}
