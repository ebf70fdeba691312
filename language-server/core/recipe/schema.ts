/**
 * The one table describing the .qrecipe language: every top-level keyword, every key of every
 * block, its value type, range, units, default and documentation (with the method's paper). The
 * parser (arity), the analysis (types, ranges, defaults), completion, hover and the reference docs
 * all read it. Limits that the native backend sets come from native/limits.ts.
 */
import { NM_MAX_M, OBS_BLOCK, QUANT_BITS } from '../../../native/limits';

import type { BlockKind, KeySpec, KeywordSpec, MethodSpec } from './schema-types';
export type { BlockKind, KeySpec, KeywordSpec, MethodSpec, StageKind, ValueType } from './schema-types';

const PAPERS = {
  gptq:
    'Frantar, Ashkboos, Hoefler, Alistarh. "GPTQ: Accurate Post-Training Quantization for Generative ' +
    'Pre-trained Transformers", ICLR 2023. arXiv:2210.17323',
  sparsegpt:
    'Frantar, Alistarh. "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot", ' +
    'ICML 2023. arXiv:2301.00774',
  wanda:
    'Sun, Liu, Bair, Kolter. "A Simple and Effective Pruning Approach for Large Language Models" ' +
    '(Wanda), ICLR 2024. arXiv:2306.11695',
  magnitude:
    'Han, Pool, Tran, Dally. "Learning both Weights and Connections for Efficient Neural Networks", ' +
    'NeurIPS 2015. arXiv:1506.02626',
  llmmq:
    'Li, Ning, Wang, Wang et al. "LLM-MQ: Mixed-precision Quantization for Efficient LLM Deployment", ' +
    'NeurIPS 2023 ENLSP workshop.',
  rtn:
    'Round-to-nearest with the min-max uniform quantizer used as the baseline in GPTQ (Frantar et ' +
    'al., ICLR 2023).',
  quip:
    'Chee, Cai, Kuleshov, De Sa. "QuIP: 2-Bit Quantization of Large Language Models With Guarantees", ' +
    'NeurIPS 2023. arXiv:2307.13304; Tseng et al. "QuIP#", ICML 2024. arXiv:2402.04396',
  aqlm:
    'Egiazarian, Panferov, Kuznedelev, Frantar, Babenko, Alistarh. "Extreme Compression of Large Language ' +
    'Models via Additive Quantization" (AQLM), ICML 2024. arXiv:2401.06118',
  pv:
    'Malinovskii, Mazur, Ilin, Kuznedelev, Burlachenko, Yi, Alistarh, Richtarik. "PV-Tuning: Beyond ' +
    'Straight-Through Estimation for Extreme LLM Compression", NeurIPS 2024. arXiv:2405.14852',
  nm:
    'Mishra et al. "Accelerating Sparse Deep Neural Networks" (2:4 structured sparsity), ' +
    'arXiv:2104.08378',
};

export const KEYWORDS: KeywordSpec[] = [
  {
    name: 'use',
    doc: 'Imports another recipe. Its model, data sets, presets and stages come first; this file ' +
      'overrides them: `model` replaces, a `data`/`preset` of the same name replaces, a stage of the ' +
      'same kind is merged key by key (this file wins), other stages are appended.',
    example: 'use "base.qrecipe"',
  },
  {
    name: 'model',
    doc: 'The ONNX model to compress, relative to the recipe. Weights in external data files next to the ' +
      'model are found automatically.',
    example: 'model "model.onnx"',
  },
  {
    name: 'data', block: 'data',
    doc: 'A named data set for calibration or evaluation: exactly one source (`text`, `images`, `idx`, ' +
      '`ocr`) plus sampling options. Stages name it with `on NAME`.',
    example: 'data calib { text "calib.txt"  samples 128  seqlen 2048  seed 0 }',
  },
  {
    name: 'preset', block: 'preset',
    doc: 'A named set of quantization parameters that stages can pull in with `preset NAME` (keys ' +
      'written in the stage win). Built-in presets: w4a16, w4a16-asym, w8a16, w8a16-asym (as in ' +
      'llm-compressor).',
    example: 'preset mine { bits 4  group 64  scheme symmetric }',
  },
  {
    name: 'prune', block: 'prune', methodRequired: true,
    doc: 'Prunes (zeros) weights of the selected layers to a target sparsity, unstructured or N:M. ' +
      'Optional `on DATASET` names the calibration set (default: the first data set).',
    example: 'prune sparsegpt on calib { sparsity 50%  pattern 2:4 }',
    methods: [
      {
        name: 'magnitude', needsData: false, paper: PAPERS.magnitude,
        doc: 'Removes the weights of smallest magnitude in each layer (per row for N:M). Needs no data.',
      },
      {
        name: 'wanda', needsData: true, paper: PAPERS.wanda,
        doc: 'Scores |W_ij|·‖X_j‖₂ (weight times input-activation norm), prunes the lowest per output ' +
          'row; no weight update.',
      },
      {
        name: 'sparsegpt', needsData: true, paper: PAPERS.sparsegpt,
        doc: 'Prunes by the OBS saliency w²/[H⁻¹]_jj and updates the remaining weights with the inverse ' +
          'Hessian, column block by column block.',
      },
    ],
  },
  {
    name: 'quantize', block: 'quantize', methodRequired: true,
    doc: 'Quantizes the weights of the selected layers to `bits` bits with one scale (and zero point ' +
      'when asymmetric) per group of `group` input columns. Optional `on DATASET` names the ' +
      'calibration set.',
    example: 'quantize gptq on calib { bits 4  group 128 }',
    methods: [
      {
        name: 'rtn', needsData: false, paper: PAPERS.rtn,
        doc: 'Round-to-nearest with a min-max uniform quantizer. Needs no data.',
      },
      {
        name: 'gptq', needsData: true, paper: PAPERS.gptq,
        doc: 'Quantizes one column at a time and compensates the error on the remaining columns with the ' +
          'inverse Hessian of the layer inputs (H = 2XXᵀ), with dampening λ = dampening·mean(diag H). With ' +
          '`incoherence hadamard`, GPTQ runs on the rotated weight and Hessian (QuIP\'s LDLQ). Paper of ' +
          'incoherence processing: ' + PAPERS.quip,
      },
      {
        name: 'vq', needsData: true, paper: PAPERS.aqlm,
        doc: 'Additive vector quantization with learned codebooks (AQLM): each run of `dim` input weights of ' +
          'a row is the sum of `codebooks` vectors, one from each codebook of 2^`codebits` learned vectors, ' +
          'times a per-row scale; codes by greedy search on the layer loss against the Hessian, codebooks by ' +
          'least squares. Code bits per weight = codebooks·codebits/dim (2 with the defaults); the codebooks ' +
          '(fp16) and row scales come on top. `bits`, `group` and `scheme` do not apply. Export with ' +
          '`onnx-decode`.',
      },
    ],
  },
  {
    name: 'allocate', block: 'allocate', methodRequired: false,
    doc: 'Mixed precision (LLM-MQ): measures each layer\'s sensitivity at every candidate bit width and ' +
      'picks one width per layer so the weights fit the budget (a multiple-choice knapsack), keeping ' +
      'a small fraction of outliers in FP16.',
    example: 'allocate llm-mq on calib { budget 3bits  candidates 2 3 4 }',
    methods: [
      {
        name: 'llm-mq', needsData: true, paper: PAPERS.llmmq,
        doc: 'LLM-MQ sensitivity-based bit allocation with sparse outlier protection.',
      },
    ],
  },
  {
    name: 'finetune', block: 'finetune', methodRequired: false,
    doc: 'Fine-tunes the compressed model by knowledge distillation (KL to the original model\'s output ' +
      'distributions) on a calibration data set, training the compressed form itself: scales and ' +
      'codebooks by Adam, the codes of the quantised layers of the stages before it by PV-Tuning\'s ' +
      'discrete step (a small fraction of codes re-assigned per step where the gradient predicts the ' +
      'largest gain), and norm scales and biases. The size does not change.',
    example: 'finetune on calib { steps 200 }',
    methods: [
      {
        name: 'pv', needsData: true, paper: PAPERS.pv,
        doc: 'PV-Tuning: alternating continuous (P) and discrete (V) steps on the distillation loss.',
      },
    ],
  },
  {
    name: 'evaluate', block: 'evaluate',
    doc: 'Measures the model after the stages before it (and the original model, for comparison): one ' +
      'metric per entry, with `on DATASET` where the metric needs data.',
    example: 'evaluate { perplexity on heldout  size }',
  },
  {
    name: 'export',
    doc: 'Writes the compressed model: `export FORMAT "path"` (path relative to the recipe).',
    example: 'export onnx-matmulnbits "out/model.onnx"',
    methods: [
      {
        name: 'onnx-matmulnbits', needsData: false,
        doc: 'ONNX Runtime com.microsoft.MatMulNBits for MatMul/Gemm layers: codes in 2-, 4- or 8-bit slots ' +
          '(3 bits in 4-bit slots, 5–7 in 8), a scale per block of 16–256 columns, zero points unless ' +
          'symmetric, fp16 outliers added to the output; other layers as onnx-qdq.',
      },
      {
        name: 'onnx-qdq', needsData: false,
        doc: 'Standard ONNX DequantizeLinear + MatMul/Conv: int4/uint4 codes up to 4 bits, int8/uint8 above, ' +
          'per channel or in blocks of the group size (opset 21: the model is raised to it when nothing in ' +
          'its graph changes meaning, else 8-bit codes), fp16 outliers scattered into the weight.',
      },
      {
        name: 'onnx-decode', needsData: false,
        doc: 'Standard ONNX that stores each quantised layer in its compressed form and rebuilds the weight ' +
          'with standard ops (codebooks by Gather + ReduceSum, packed 1/2/4-bit codes unpacked by ' +
          'Div/Floor/Sub, incoherence rotations as MatMuls by ±1 Hadamard factors); onnxruntime folds the ' +
          'rebuild when it loads the model. The one format for `vq` and `incoherence hadamard`.',
      },
      {
        name: 'onnx-fakequant', needsData: false,
        doc: 'Float ONNX whose weights hold the dequantized (and pruned) values: runs anywhere, no size ' +
          'gain.',
      },
    ],
  },
];

const SEL: BlockKind[] = ['prune', 'quantize', 'allocate'];
const Q_PARAMS: BlockKind[] = ['quantize', 'preset', 'override-quantize'];

export interface BuiltinPreset { bits: number; group: number | 'channel'; symmetric: boolean; doc: string }

export const BUILTIN_PRESETS: Record<string, BuiltinPreset> = {
  'w4a16': {
    bits: 4, group: 128, symmetric: true,
    doc: '4-bit weights, group 128, symmetric; activations stay 16-bit (llm-compressor W4A16).',
  },
  'w4a16-asym': {
    bits: 4, group: 128, symmetric: false,
    doc: '4-bit weights, group 128, asymmetric (llm-compressor W4A16_ASYM).',
  },
  'w8a16': {
    bits: 8, group: 'channel', symmetric: true,
    doc: '8-bit weights, one scale per output channel, symmetric (llm-compressor W8A16).',
  },
  'w8a16-asym': { bits: 8, group: 'channel', symmetric: false, doc: '8-bit weights, per channel, asymmetric.' },
};

export const KEYS: KeySpec[] = [
  // data sets
  {
    name: 'text', blocks: ['data'], type: { kind: 'path' }, maxIdents: 0,
    doc: 'A UTF-8 text file; windows of `seqlen` tokens are drawn from it.',
    example: '"data/calib.txt"',
  },
  {
    name: 'images', blocks: ['data'], type: { kind: 'path' }, maxIdents: 0,
    doc: 'A folder of images, one sub-folder per class (the label).',
    example: '"images/"',
  },
  {
    name: 'idx', blocks: ['data'], type: { kind: 'path' }, maxIdents: 0,
    doc: 'An IDX image file (MNIST format, optionally .gz); give the labels with `labels`.',
    example: '"t10k-images-idx3-ubyte.gz"',
  },
  {
    name: 'ocr', blocks: ['data'], type: { kind: 'path' }, maxIdents: 0,
    doc: 'A folder of text-line images with a ground-truth `labels.tsv` (file<TAB>text); override its ' +
      'path with `labels`.',
    example: '"ocr-lines/"',
  },
  {
    name: 'labels', blocks: ['data'], type: { kind: 'path' }, maxIdents: 0,
    doc: 'Labels for `idx` (IDX label file) or `ocr` (a TSV file: image<TAB>text).',
    example: '"t10k-labels-idx1-ubyte.gz"',
  },
  {
    name: 'tokenizer', blocks: ['data'], type: { kind: 'tokenizer' }, maxIdents: 1, default: 'byte',
    doc: 'Tokenisation of `text`: `byte` (one token per UTF-8 byte) or the path of a Hugging Face ' +
      'tokenizer.json (BPE, WordPiece, Unigram; see Data sets).',
    example: 'byte',
  },
  {
    name: 'samples', blocks: ['data'], type: { kind: 'int', min: 1, max: 1_000_000 }, maxIdents: 0,
    default: '128',
    doc: 'Number of samples (text windows, images or lines) drawn.',
    example: '128',
  },
  {
    name: 'seqlen', blocks: ['data'], type: { kind: 'int', min: 1, max: 1_048_576 }, maxIdents: 0,
    default: '2048',
    doc: 'Tokens per text sample (text data sets only).',
    example: '2048',
  },
  {
    name: 'seed', blocks: ['data'], type: { kind: 'int', min: 0, max: 2 ** 31 - 1 }, maxIdents: 0, default: '0',
    doc: 'Seed of the random sample choice.',
    example: '0',
  },
  // layer selection
  {
    name: 'targets', blocks: SEL, type: { kind: 'patterns' }, maxIdents: 0,
    defaultDoc: 'every MatMul, Gemm and Conv layer',
    doc: 'Layers the stage applies to: layer names, globs (`*`, `?`), `re:` regular expressions (matched ' +
      'from the start of the name, as in llm-compressor) or op names (`Linear` = MatMul and Gemm, ' +
      '`MatMul`, `Gemm`, `Conv`, `Gather`).',
    example: '"re:.*_proj"',
  },
  {
    name: 'ignore', blocks: SEL, type: { kind: 'patterns' }, maxIdents: 0, defaultDoc: 'nothing',
    doc: 'Layers removed from `targets` (same pattern forms). A pattern that matches no layer is ' +
      'flagged.',
    example: '"lm_head"',
  },
  {
    name: 'override', blocks: SEL, type: { kind: 'pattern-block' }, maxIdents: 0,
    doc: 'Per-layer parameters: `override "pattern" { ... }` applies the block to the selected layers ' +
      'matching the pattern; later overrides win.',
    example: '"layers.0.*" { bits 8 }',
  },
  // prune
  {
    name: 'sparsity', blocks: ['prune', 'override-prune'], type: { kind: 'percent', min: 0, max: 0.999 }, maxIdents: 0,
    default: '50%',
    doc: 'Fraction of weights set to zero in each selected layer (`50%` or `0.5`). With N:M, implied by ' +
      'the pattern.',
    example: '50%',
  },
  {
    name: 'pattern', blocks: ['prune', 'override-prune'], type: { kind: 'nm', maxM: NM_MAX_M }, maxIdents: 1,
    default: 'unstructured',
    doc: '`unstructured` or N:M (N zeros in every M consecutive input columns of a row, e.g. 2:4). M ' +
      'must divide every selected layer\'s input dimension. Paper: ' +
      PAPERS.nm,
    example: '2:4',
  },
  // quantize
  {
    name: 'bits', blocks: [...Q_PARAMS, 'override-allocate'], type: { kind: 'int', ...QUANT_BITS }, maxIdents: 0,
    default: '4',
    doc: 'Bit width of the quantized weights (2–8). In an allocate override, pins the layers to that ' +
      'width.',
    example: '4',
  },
  {
    name: 'group', blocks: [...Q_PARAMS, 'allocate'], type: { kind: 'group' }, maxIdents: 1, default: '128',
    doc: 'Quantization group size along the input dimension (`channel` = one group per output row). Where ' +
      'it does not divide a layer\'s input dimension, the last group is shorter (QR204, as GPTQ and ' +
      'MatMulNBits do); MatMulNBits needs a power of two ≥ 16.',
    example: '128',
  },
  {
    name: 'scheme', blocks: [...Q_PARAMS, 'allocate'], maxIdents: 1,
    type: { kind: 'enum', values: ['symmetric', 'asymmetric'] },
    default: 'asymmetric',
    doc: '`asymmetric` (scale and zero point per group, GPTQ\'s default) or `symmetric` (no zero points: ' +
      'the full signed range, the value of largest magnitude at −2^(bits−1), as onnxruntime\'s quantizer).',
    example: 'asymmetric',
  },
  {
    name: 'preset', blocks: ['quantize'], type: { kind: 'preset-ref' }, maxIdents: 1,
    doc: 'Pulls in a preset: built-in w4a16, w4a16-asym, w8a16, w8a16-asym, or a `preset NAME { }` of ' +
      'this recipe. Keys written in the stage win.',
    example: 'w4a16',
  },
  {
    name: 'actorder', blocks: Q_PARAMS, type: { kind: 'bool' }, maxIdents: 1,
    default: 'false', methods: ['gptq'],
    doc: 'GPTQ act-order: quantize columns by decreasing Hessian diagonal (helps at 3–4 bits).',
    example: 'true',
  },
  {
    name: 'dampening', blocks: ['quantize', 'preset', 'prune'], type: { kind: 'percent', min: 0, max: 1 }, maxIdents: 0,
    default: '1%', methods: ['gptq', 'sparsegpt'],
    doc: 'Hessian dampening λ as a fraction of the mean of its diagonal (GPTQ/SparseGPT percdamp, ' +
      'llm-compressor dampening_frac).',
    example: '1%',
  },
  {
    name: 'block', blocks: ['quantize', 'preset', 'prune'], type: { kind: 'int', min: 1, max: OBS_BLOCK.max }, maxIdents: 0,
    default: '128', methods: ['gptq', 'sparsegpt'],
    doc: 'Columns processed together before the lazy batch update (GPTQ/SparseGPT blocksize).',
    example: '128',
  },
  {
    name: 'outliers', blocks: ['quantize', 'preset', 'allocate', 'override-quantize'], maxIdents: 0,
    type: { kind: 'percent', min: 0, max: 0.1 },
    default: '0%',
    doc: 'Fraction of the largest-magnitude weights of each layer kept in FP16 (sparse) and left out of ' +
      'quantization (LLM-MQ uses 0.5%).',
    example: '0.5%',
  },
  // extreme compression (quantize vq, incoherence)
  {
    name: 'incoherence', blocks: ['quantize'], maxIdents: 1,
    type: { kind: 'enum', values: ['none', 'hadamard'] },
    default: 'none', methods: ['rtn', 'gptq', 'vq'],
    doc: 'Incoherence processing (QuIP): `hadamard` quantizes U·W·Vᵀ against V·H·Vᵀ with U, V randomized ' +
      'Hadamard transforms (Sylvester for powers of two, times a Paley factor for 12, 20, 28, ... ·2^k; ' +
      'block-diagonal otherwise), so outlier weights and input features spread over all coordinates. The ' +
      'rotations are shared by layers of equal size; export with `onnx-decode`.',
    example: 'hadamard',
  },
  {
    name: 'dim', blocks: ['quantize'], type: { kind: 'int', min: 1, max: 64 }, maxIdents: 0,
    default: '4', methods: ['vq'],
    doc: 'Weights per code vector (`vq`): must divide every selected layer\'s input dimension.',
    example: '8',
  },
  {
    name: 'codebooks', blocks: ['quantize'], type: { kind: 'int', min: 1, max: 8 }, maxIdents: 0,
    default: '1', methods: ['vq'],
    doc: 'Additive codebooks per layer (`vq`, AQLM\'s M): each vector is the sum of one entry of each.',
    example: '2',
  },
  {
    name: 'codebits', blocks: ['quantize'], type: { kind: 'int', min: 1, max: 16 }, maxIdents: 0,
    default: '8', methods: ['vq'],
    doc: 'Bits per code (`vq`, AQLM\'s B): each codebook has 2^codebits vectors; codes are stored as uint8 ' +
      '(≤ 8) or uint16.',
    example: '8',
  },
  {
    name: 'rowscales', blocks: ['quantize'], type: { kind: 'bool' }, maxIdents: 1,
    default: 'true', methods: ['vq'],
    doc: 'A float16 scale per output row (`vq`): 16 bits a row on top of the codes; `false` saves them ' +
      '(the codebooks then carry the rows\' magnitudes).',
    example: 'false',
  },
  {
    name: 'iterations', blocks: ['quantize'], type: { kind: 'int', min: 1, max: 100 }, maxIdents: 0,
    default: '6', methods: ['vq'],
    doc: 'Rounds of code search, codebook and scale updates per layer (`vq`); a round that improves the ' +
      'layer loss by less than 1 % ends it earlier.',
    example: '6',
  },
  // finetune
  {
    name: 'steps', blocks: ['finetune'], type: { kind: 'int', min: 1, max: 100_000 }, maxIdents: 0,
    default: '100',
    doc: 'Optimisation steps, one calibration batch each.',
    example: '200',
  },
  {
    name: 'lr', blocks: ['finetune'], type: { kind: 'percent', min: 0, max: 1 }, maxIdents: 0,
    default: '0.1%',
    doc: 'Adam step of the continuous parameters (scales, codebooks, norms), relative to each tensor\'s RMS ' +
      'at the start, with 5 % warm-up and cosine decay.',
    example: '0.1%',
  },
  {
    name: 'codelr', blocks: ['finetune'], type: { kind: 'percent', min: 0, max: 1 }, maxIdents: 0,
    default: '1%',
    doc: 'Adam step of the straight-through weights the code step follows, relative to the weight\'s RMS.',
    example: '1%',
  },
  {
    name: 'codes', blocks: ['finetune'], type: { kind: 'percent', min: 0, max: 1 }, maxIdents: 0,
    default: '1%',
    doc: 'Fraction of code units (weights, or vectors for `vq`) whose codes may change per step, those with ' +
      'the largest predicted gain (PV-Tuning\'s max_code_change_per_step); `0%` keeps the codes.',
    example: '1%',
  },
  {
    name: 'norms', blocks: ['finetune'], type: { kind: 'bool' }, maxIdents: 1, default: 'true',
    doc: 'Also train the model\'s 1-D float tensors read by Mul/Add or a normalisation (norm scales, biases).',
    example: 'true',
  },
  // allocate
  {
    name: 'budget', blocks: ['allocate'], type: { kind: 'budget' }, maxIdents: 0,
    doc: 'Weight memory of the selected layers after quantization: a size (`2MiB`, `512KiB`, `1.5GiB`, ' +
      '`300000B`) as the recipe\'s export stores them (codes in its slots, scales, zero points, outliers, ' +
      'padding), or an average width (`3bits`) of the weight codes.',
    example: '3bits',
  },
  {
    name: 'candidates', blocks: ['allocate', 'override-allocate'], type: { kind: 'bits-list', ...QUANT_BITS },
    maxIdents: 0,
    default: '2 3 4',
    doc: 'Bit widths each layer may get. A width the export stores in a wider slot (3 in onnx-matmulnbits\' ' +
      '4-bit slots, 2 and 3 in onnx-qdq\'s int4) is offered as that slot\'s width (QR210).',
    example: '2 3 4',
  },
  {
    name: 'metric', blocks: ['allocate'], maxIdents: 1,
    type: { kind: 'enum', values: ['gradient', 'taylor', 'fisher', 'hessian', 'measured'] },
    default: 'fisher',
    doc: 'Sensitivity of a layer at b bits: `gradient` = |⟨∂L/∂W, W − Q_b(W)⟩| (LLM-MQ\'s first-order ' +
      'Taylor, gradient averaged over calibration), `taylor` = the same term per calibration window, ' +
      'averaged after the absolute value, `fisher` = ½·Σ E[g_window²]·ΔW² (diagonal empirical ' +
      'Fisher), `hessian` = ½·tr(ΔW H ΔWᵀ) from calibration inputs, `measured` = the KL to the dense ' +
      'model measured by quantizing the layer alone.',
    example: 'gradient',
  },
  {
    name: 'quantizer', blocks: ['allocate'], maxIdents: 1,
    type: { kind: 'enum', values: ['rtn', 'gptq'] },
    default: 'rtn',
    doc: 'How the layers are quantized at their allocated widths: `rtn` (the min-max grid the ' +
      'sensitivities score) or `gptq` (GPTQ on the stage\'s calibration data, block by block, outliers ' +
      'held out of its grids).',
    example: 'gptq',
  },
  // evaluate
  {
    name: 'perplexity', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'Perplexity (exp of the mean next-token cross-entropy) on a text data set: `perplexity on ' +
      'NAME`.',
    example: 'on heldout',
  },
  {
    name: 'accuracy', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'Top-1 accuracy on a labelled image data set: `accuracy on NAME`.',
    example: 'on test',
  },
  {
    name: 'cer', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'Character error rate (edit distance / reference length, greedy CTC decoding) on an OCR data ' +
      'set: `cer on NAME`.',
    example: 'on lines',
  },
  {
    name: 'kl', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'Mean KL divergence between the original and the compressed model\'s output distributions: `kl ' +
      'on NAME`.',
    example: 'on heldout',
  },
  {
    name: 'size', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'File size of the compressed model in the recipe\'s export format and bits per weight of its ' +
      'quantized layers (codes, scales, zero points, outliers, padding), from the one cost model (no data).',
    example: '',
  },
  {
    name: 'latency', blocks: ['evaluate'], type: { kind: 'metric' }, maxIdents: 2,
    doc: 'Median forward-pass time over a few batches (optionally `on NAME` for the inputs).',
    example: '',
  },
];

/** llm-compressor / compressed-tensors spellings, to explain what to write instead. */
export const LLMC_ALIASES: Record<string, string> = {
  group_size: 'group', num_bits: 'bits', dampening_frac: 'dampening', mask_structure: 'pattern', symmetric: 'scheme',
  block_size: 'block', actorder_: 'actorder', num_calibration_samples: 'samples', max_seq_length: 'seqlen',
  scheme_: 'preset', percdamp: 'dampening', groupsize: 'group', wbits: 'bits', act_order: 'actorder',
};

export const KEYWORD_BY_NAME = new Map(KEYWORDS.map((k) => [k.name, k]));

const keysByBlock = new Map<BlockKind, Map<string, KeySpec>>();
for (const k of KEYS) for (const b of k.blocks) {
  if (!keysByBlock.has(b)) keysByBlock.set(b, new Map());
  keysByBlock.get(b)!.set(k.name, k);
}

/** The key spec of `name` in block `block`, if allowed there. */
export function keySpec(block: BlockKind, name: string): KeySpec | undefined {
  return keysByBlock.get(block)?.get(name);
}

export function keysOf(block: BlockKind): KeySpec[] {
  return [...(keysByBlock.get(block)?.values() ?? [])];
}

/** Any spec for a key name (for "belongs in another block" messages and hover). */
export function anyKeySpec(name: string): KeySpec | undefined {
  return KEYS.find((k) => k.name === name);
}

/** The block kind of an override inside a stage block. */
export function overrideBlockOf(block: BlockKind): BlockKind | undefined {
  if (block === 'prune') return 'override-prune';
  if (block === 'quantize') return 'override-quantize';
  if (block === 'allocate') return 'override-allocate';
  return undefined;
}

export const SIZE_UNITS: Record<string, number> = {
  B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3,
};

/** Markdown documentation of a keyword, method or key, for hover and the docs. */
export function keyDoc(k: KeySpec): string {
  const parts = [`**${k.name}** — ${k.doc}`];
  const d = k.default ?? k.defaultDoc;
  if (d) parts.push(`Default: \`${d}\`.`);
  if (k.methods) parts.push(`Applies to: ${k.methods.join(', ')}.`);
  return parts.join('\n\n');
}

export function methodDoc(m: MethodSpec): string {
  return `**${m.name}** — ${m.doc}${m.paper ? `\n\nPaper: ${m.paper}` : ''}`;
}
