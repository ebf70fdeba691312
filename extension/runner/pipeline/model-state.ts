// The model being compressed: the loaded ONNX file with its editor, its layer inventory, the
// current weight of every layer a stage touched (rows × cols float32) and the quantised codes of
// quantised layers. Stages read and replace weights here; the compressed (fake-quant) model file is
// written from it.
import { loadModel, type OnnxModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { ModelEditor } from '../engine/model/writer';
import { getLayerWeight, setLayerWeight, transpose } from '../engine/model/weights';
import type { LayerInfo, ModelInventory } from '../../../language-server/core/model/types';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import type { QuantizedLayer } from '../export/quant-store';

export class ModelState {
  readonly layers: Map<string, LayerInfo>;
  /** Current weights of the layers changed so far. */
  private readonly changed = new Map<string, Float32Array>();
  /** Quantised codes of the layers quantised so far (a later stage may replace them). */
  readonly quant = new Map<string, QuantizedLayer>();
  /** Layers quantised with fp16 outliers kept aside (no packed export form): their packed size. */
  readonly outlierLayers = new Map<string, { bits: number; groups: number; nnz: number }>();
  /** Every per-layer result of every stage, in order. */
  readonly results: LayerResult[] = [];

  private constructor(readonly original: OnnxModel, readonly inventory: ModelInventory, private readonly editor: ModelEditor) {
    this.layers = new Map(inventory.layers.map((l) => [l.name, l]));
  }

  static async load(file: string): Promise<ModelState> {
    const model = await loadModel(file);
    return new ModelState(model, inventoryOf(model), new ModelEditor(model));
  }

  layer(name: string): LayerInfo {
    const l = this.layers.get(name);
    if (!l) throw new Error(`layer '${name}' is not in ${this.original.path}`);
    return l;
  }

  /** The current weight (a fresh copy of the original the first time). */
  async weight(name: string): Promise<Float32Array> {
    const w = this.changed.get(name);
    if (w) return w;
    return getLayerWeight(this.editor, this.layer(name));
  }

  setWeight(name: string, w: Float32Array): void {
    const l = this.layer(name);
    if (w.length !== l.rows * l.cols) throw new Error(`layer '${name}': ${w.length} values for ${l.rows}x${l.cols}`);
    this.changed.set(name, w);
    // Tied layers read one stored tensor: they see the new values too, and lose codes of their own.
    for (const other of l.sharedWith ?? []) {
      const o = this.layer(other);
      const stored = l.transposed ? transpose(w, l.rows, l.cols) : w;
      this.changed.set(other, o.transposed ? transpose(stored, o.cols, o.rows) : stored);
      this.dropQuantized(other);
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

  /** Marks a layer quantised (its weight becomes the dequantised codes). */
  setQuantized(q: QuantizedLayer, dequantized: Float32Array): void {
    this.setWeight(q.name, dequantized);
    this.quant.set(q.name, q);
  }

  /** A pruning stage after quantisation invalidates the codes of the layers it changes. */
  dropQuantized(name: string): void {
    this.quant.delete(name);
    this.outlierLayers.delete(name);
  }

  get changedLayers(): string[] {
    return [...this.changed.keys()];
  }

  /** The changed weights applied to a fresh copy of the original (used to write the compressed model). */
  async editorWithChanges(): Promise<ModelEditor> {
    const editor = new ModelEditor(await loadModel(this.original.path));
    for (const [name, w] of this.changed) setLayerWeight(editor, this.layer(name), w);
    return editor;
  }

  /** Writes the compressed (fake-quant) model atomically. */
  async save(file: string, signal?: AbortSignal): Promise<number> {
    const editor = await this.editorWithChanges();
    const r = await editor.save(file, { signal });
    return r.bytes + (r.externalBytes ?? 0);
  }
}
