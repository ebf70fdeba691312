// The model being compressed: the loaded ONNX file (weights read from it on demand), its layer
// inventory and block plan, and the weights the stages changed, in a WeightStore (codes of
// quantised layers, the forms of vq / incoherence layers, float32 of pruned ones; spilled to the run's scratch folder beyond a memory
// budget). Stages read and replace weights here; the compressed (fake-quant) model, quant.bin and
// the chain's parts are made from it on demand, one layer at a time.
import { loadModel, type OnnxModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../engine/model/writer';
import { getLayerWeight, setLayerWeightLazy, transpose } from '../engine/model/weights';
import type { LayerInfo, ModelInventory } from '../../../language-server/core/model/types';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import { dequantize, writeQuantStoreStreaming, type QuantizedLayer } from '../export/quant-store';
import { planBlocks, type PlanResult } from '../engine/blocks/plan';
import { hasBfloat16 } from '../engine/evaluate/bf16-twin';
import { WeightStore, type QuantMeta } from './weight-store';
import { decodeLayer, type CompressedLayer } from '../engine/extreme/compressed';
import type { CompressedMeta, CompressedSource } from '../export/compressed-entry';

export class ModelState {
  readonly layers: Map<string, LayerInfo>;
  /** Layers an earlier stage pruned: a later quantisation holds their zeros (their mask is their exact zeros). */
  private readonly pruned = new Set<string>();
  /** Float tensors other than layer weights that a stage changed (norm scales after fine-tuning), stored layout. */
  readonly tensors = new Map<string, Float32Array>();
  /** Every per-layer result of every stage, in order. */
  readonly results: LayerResult[] = [];
  private plan?: PlanResult;
  /** Bumped whenever a weight changes (evaluations made before are stale). */
  version = 0;
  private readonly editor: ModelEditor;

  private constructor(readonly original: OnnxModel, readonly inventory: ModelInventory, readonly store: WeightStore) {
    this.layers = new Map(inventory.layers.map((l) => [l.name, l]));
    this.editor = new ModelEditor(original);
  }

  /** Loads the model; changed weights beyond the memory budget go to `scratchDir`. */
  static async load(file: string, scratchDir: string, weightBudget?: number): Promise<ModelState> {
    const model = await loadModel(file);
    return new ModelState(model, inventoryOf(model), new WeightStore(scratchDir, weightBudget));
  }

  layer(name: string): LayerInfo {
    const l = this.layers.get(name);
    if (!l) throw new Error(`layer '${name}' is not in ${this.original.path}`);
    return l;
  }

  /** The current weight (a fresh copy of the original, or the dequantised codes, when changed). */
  async weight(name: string): Promise<Float32Array> {
    return (await this.store.weight(name)) ?? getLayerWeight(this.editor, this.layer(name));
  }

  /** The layers among `names` a stage changed, each with a getter of its current weights (others are as in the file). */
  changedWeights(names: readonly string[]): Map<string, () => Promise<Float32Array>> {
    return new Map(names.filter((n) => this.store.has(n)).map((n) => [n, async () => (await this.store.weight(n))!]));
  }

  /**
   * Where the graph cuts into prefix, blocks and suffix (computed once). A bfloat16 model is not
   * cut: onnxruntime's CPU provider runs it only as its float32 twin, which exists for whole files.
   */
  blockPlan(): PlanResult {
    this.plan ??= hasBfloat16(this.original)
      ? { ok: false, reason: 'bfloat16 model: onnxruntime\'s CPU provider runs it as its float32 twin, made for the whole model only' }
      : planBlocks(this.original, this.inventory.layers);
    return this.plan;
  }

  /** Marks a layer compressed in a form of its own (vector codes, rotations): its weight becomes the decode. */
  async setCompressed(c: CompressedLayer): Promise<void> {
    const l = this.layer(c.name);
    if (c.rows !== l.rows || c.cols !== l.cols) throw new Error(`layer '${c.name}': compressed form ${c.rows}x${c.cols} for ${l.rows}x${l.cols}`);
    await this.store.setCompressed(c);
    if (l.sharedWith?.length) await this.tieTo(l, decodeLayer(c));
    this.version++;
  }

  /**
   * The layers whose compressed form has no `QuantizedLayer` (vector codes, incoherence rotations),
   * without their arrays, in the order they were compressed.
   */
  get compressed(): CompressedMeta[] {
    return this.store.compressed;
  }

  /** A layer's form of its own with its arrays (read back from the spill file when it went there). */
  async compressedLayer(name: string): Promise<CompressedLayer> {
    const c = await this.store.compressedLayer(name);
    if (!c) throw new Error(`layer '${name}' has no compressed form of its own`);
    return c;
  }

  /** The layers in a form of their own, loaded one at a time (what onnx-decode and quant.bin take). */
  compressedSource(): CompressedSource {
    return { metas: this.compressed, load: (n) => this.compressedLayer(n) };
  }

  /** Replaces a layer's weight by float values (its codes, if any, are dropped). */
  async setWeight(name: string, w: Float32Array): Promise<void> {
    const l = this.layer(name);
    if (w.length !== l.rows * l.cols) throw new Error(`layer '${name}': ${w.length} values for ${l.rows}x${l.cols}`);
    await this.store.setFloat(name, w);
    await this.tieTo(l, w);
    this.version++;
  }

  /** Marks a layer quantised: its weight becomes the dequantised codes. */
  async setQuantized(q: QuantizedLayer): Promise<void> {
    const l = this.layer(q.name);
    if (q.rows !== l.rows || q.cols !== l.cols) throw new Error(`layer '${q.name}': codes ${q.rows}x${q.cols} for ${l.rows}x${l.cols}`);
    await this.store.setQuantized(q);
    if (l.sharedWith?.length) await this.tieTo(l, dequantize(q));
    this.version++;
  }

  /** Tied layers read one stored tensor: they see the new values too, and lose codes of their own. */
  private async tieTo(l: LayerInfo, w: Float32Array): Promise<void> {
    for (const other of l.sharedWith ?? []) {
      const o = this.layer(other);
      const stored = l.transposed ? transpose(w, l.rows, l.cols) : w;
      await this.store.setFloat(other, o.transposed ? transpose(stored, o.cols, o.rows) : stored);
    }
  }

  /**
   * The layers a stage compresses: of layers sharing one stored tensor (tied embedding and
   * lm_head), only one, the first that is not an embedding lookup (it has calibration
   * statistics); `tied` says which were left to it.
   */
  untied(names: readonly string[]): { layers: string[]; tied: { name: string; as: string }[] } {
    const keep = new Map<string, string>();
    for (const n of names) {
      const l = this.layer(n);
      const cur = keep.get(l.tensorName);
      if (!cur || (this.layer(cur).op === 'Gather' && l.op !== 'Gather')) keep.set(l.tensorName, n);
    }
    const chosen = new Set(keep.values());
    return {
      layers: names.filter((n) => chosen.has(n)),
      tied: names.filter((n) => !chosen.has(n)).map((n) => ({ name: n, as: keep.get(this.layer(n).tensorName)! })),
    };
  }

  /** Marks a layer pruned: its exact zeros are its mask, which a later quantisation keeps. */
  markPruned(name: string): void {
    this.pruned.add(name);
  }

  /** Whether a stage pruned this layer. */
  wasPruned(name: string): boolean {
    return this.pruned.has(name);
  }

  /** The quantised layers (without their arrays). */
  get quantized(): QuantMeta[] {
    return this.store.quantized;
  }

  /** A quantised layer with its codes, scales and zeros. */
  async quantizedLayer(name: string): Promise<QuantizedLayer> {
    const q = await this.store.quantizedLayer(name);
    if (!q) throw new Error(`layer '${name}' is not quantised`);
    return q;
  }

  get changedLayers(): string[] {
    return this.store.names;
  }

  /** The original model with every changed weight produced when it is written (one layer at a time). */
  async editorWithChanges(): Promise<ModelEditor> {
    const editor = new ModelEditor(await loadModel(this.original.path));
    for (const name of this.store.names) await setLayerWeightLazy(editor, this.layer(name), async () => (await this.store.weight(name))!);
    for (const [name, v] of this.tensors) editor.setTensorFloat32(name, v);
    return editor;
  }

  /** Writes the compressed (fake-quant) model atomically, streaming. */
  async save(file: string, signal?: AbortSignal): Promise<number> {
    const editor = await this.editorWithChanges();
    const r = await editor.save(file, { signal });
    return r.bytes + (r.externalBytes ?? 0);
  }

  /** Writes quant.bin (every quantised layer's codes, scales, zeros; every form of its own) atomically, one layer at a time. */
  async writeQuantStore(file: string, signal?: AbortSignal): Promise<number> {
    return writeQuantStoreStreaming(file, this.quantized, (name) => this.quantizedLayer(name), signal, this.compressedSource());
  }

  /** Removes the spill file of changed weights. */
  async close(): Promise<void> {
    await this.store.close();
  }
}
