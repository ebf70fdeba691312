// Transformer-block labels from layer names: `model.layers.3.mlp.up_proj` → `model.layers.3`.
// The one place that says which names mark a block (HF `layers.N`, GPT-2 `h.N`, `blocks.N`, ...).
// Names only label parts of the graph; where blocks begin and end is found from the graph
// (plan.ts).

const BLOCK = /^(.*?(?:layers|blocks|layer|h|block)\.\d+)\./;

/** The block a layer name belongs to, or undefined when the name marks none. */
export function blockLabel(name: string): string | undefined {
  return BLOCK.exec(name)?.[1];
}

/** True when the layers belong to at least two labelled blocks. */
export function spansBlocks(names: readonly string[]): boolean {
  return new Set(names.map(blockLabel).filter((b) => b !== undefined)).size >= 2;
}
