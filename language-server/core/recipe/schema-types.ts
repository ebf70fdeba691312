// The shapes of the .qrecipe language's table (schema.ts): block kinds, value types, and the specs
// of keywords, methods and keys.

/** Kinds of `{ ... }` block. `override-*` are the per-layer override blocks inside a stage. */
export type BlockKind =
  | 'data' | 'preset' | 'prune' | 'quantize' | 'allocate' | 'finetune' | 'evaluate'
  | 'override-prune' | 'override-quantize' | 'override-allocate';

export type StageKind = 'prune' | 'quantize' | 'allocate' | 'finetune' | 'evaluate' | 'export';

/** How the values of a key are checked and resolved. */
export type ValueType =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'percent'; min: number; max: number } // 50% or 0.5; stored as a fraction
  | { kind: 'bool' }
  | { kind: 'enum'; values: string[] }
  | { kind: 'path' } // a string, relative to the recipe file
  | { kind: 'patterns' } // one or more layer patterns (strings): glob, `re:` regex or op name
  | { kind: 'pattern-block' } // override "pattern" { ... }
  | { kind: 'group' } // int (power of two ≥ 16 recommended) or `channel`
  | { kind: 'nm'; maxM: number } // `unstructured` or N:M with M ≤ maxM
  | { kind: 'bits-list'; min: number; max: number } // candidate bit widths
  | { kind: 'budget' } // size (B, KiB, MiB, GiB) or average bits (bits)
  | { kind: 'tokenizer' } // `byte` or a tokenizer.json path
  | { kind: 'preset-ref' } // a built-in preset (w4a16 ...) or a `preset NAME` block
  | { kind: 'metric' }; // `on DATASET` (optional for size and latency)

export interface KeySpec {
  name: string;
  /** Blocks where the key is allowed. */
  blocks: BlockKind[];
  type: ValueType;
  /**
   * Maximum number of identifier values the parser attaches to the key (non-identifier values are
   * always attached, then counted by the analysis).
   */
  maxIdents: number;
  /**
   * The default, written as in a recipe (`1%`, `2 3 4`): shown in hover and docs, and checked and
   * typed by the key's value checker to give the analysis its default (values.ts, defaultValue).
   */
  default?: string;
  /** What happens without the key, where that is no value (`targets`: every MatMul, Gemm and Conv layer). */
  defaultDoc?: string;
  /** Methods the key applies to (others: warning QR114). Undefined: all. */
  methods?: string[];
  doc: string;
  /** Example value, used for completion snippets. */
  example: string;
}

export interface MethodSpec {
  name: string;
  doc: string;
  paper?: string;
  /** Whether the method needs a calibration data set. */
  needsData: boolean;
}

export interface KeywordSpec {
  name: string;
  /** Block kind of the keyword's `{ ... }`, if it takes one. */
  block?: BlockKind;
  methods?: MethodSpec[];
  /** Whether a method is required after the keyword (prune, quantize) or optional (allocate). */
  methodRequired?: boolean;
  doc: string;
  example: string;
}
