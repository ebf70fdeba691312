/**
 * What the analysis needs from the outside world, injected so tests can use synthetic files and
 * inventories: reading imported recipes, checking that files exist, and the model's layer inventory.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelInventory } from '../model/types';
import { readRegularFile, RefusedFileError } from '../util/regular-file';
import { MAX_RECIPE_BYTES } from '../util/limits';

/**
 * The text of a recipe file as an editor shows it: a regular file of at most MAX_RECIPE_BYTES (never
 * `/dev/zero` or a FIFO), decoded as UTF-8 without its byte-order mark (VS Code strips it too, so
 * the CLI and the editor see the same offsets and hash the same text).
 */
export async function readRecipeText(file: string): Promise<string> {
  const bytes = await readRegularFile(file, MAX_RECIPE_BYTES, 'recipe file');
  const text = new TextDecoder('utf-8').decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
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
  /** Where a run of the recipe may write (export paths are checked against it); absent: not checked. */
  writeRules?(recipeFile: string): WriteRules | undefined;
}

/** The write confinement an analysis checks export paths against (core/util/confine.ts). */
export interface WriteRules {
  /** The workspace folder (the recipe's folder for the CLI). */
  root: string;
  /** The run store: nothing is written into it but by QRecipe. */
  runsRoot: string;
  /** The user allows writing outside `root` (`--allow-outside`): QR130 is not reported. */
  allowOutside?: boolean;
}

/** The CLI's rules when nothing else is said: the recipe's folder, and its `.qrecipe/runs`. */
export function recipeFolderRules(recipeFile: string): WriteRules {
  const root = path.dirname(path.resolve(recipeFile));
  return { root, runsRoot: path.join(root, '.qrecipe', 'runs') };
}

/** A host over the real file system; `inventory` and the write rules are passed in (see inventory-cache.ts). */
export function fileSystemHost(inventory?: (path: string) => Promise<ModelInventory | Error>, writeRules?: (recipeFile: string) => WriteRules | undefined): AnalysisHost {
  return {
    writeRules,
    readFile: async (p) => {
      try { return await readRecipeText(p); } catch (e) { return e instanceof RefusedFileError ? new Error(e.reason) : e instanceof Error ? e : new Error(String(e)); }
    },
    exists: async (p) => {
      try { await stat(p); return true; } catch { return false; }
    },
    inventory,
    tokenizer: (p) => readTokenizerFacts(p).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
  };
}
