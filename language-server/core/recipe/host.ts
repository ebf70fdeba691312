/**
 * What the analysis needs from the outside world, injected so tests can use synthetic files and
 * inventories: reading imported recipes, checking that files exist, and the model's layer inventory.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ModelInventory } from '../model/types';
import { readTokenizerFacts, type TokenizerFacts } from '../model/data/tokenizer';

export interface AnalysisHost {
  /** Text of an imported recipe, or the error that prevented reading it. */
  readFile(path: string): Promise<string | Error>;
  /** Whether a file or folder exists. */
  exists(path: string): Promise<boolean>;
  /** The layer inventory of a model file; absent: model-aware checks are skipped. */
  inventory?(path: string): Promise<ModelInventory | Error>;
  /** What a tokenizer.json is (validated); absent: tokenizer files are only checked to exist. */
  tokenizer?(path: string): Promise<TokenizerFacts | Error>;
}

/** A host over the real file system; `inventory` is passed in (see inventory-cache.ts). */
export function fileSystemHost(inventory?: (path: string) => Promise<ModelInventory | Error>): AnalysisHost {
  return {
    readFile: async (p) => {
      try { return await readFile(p, 'utf8'); } catch (e) { return e instanceof Error ? e : new Error(String(e)); }
    },
    exists: async (p) => {
      try { await stat(p); return true; } catch { return false; }
    },
    inventory,
    tokenizer: (p) => readTokenizerFacts(p).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
  };
}
