// What a run records about its inputs and tools: content hashes of the recipe, model and data
// files, and the versions of QRecipe, the native addon, onnxruntime and Node.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { sha256Path } from '../../../language-server/core/util/hash';
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import { VERSION } from '../../../language-server/core/util/version';
import type { RunRecord } from '../../../language-server/core/protocol/runner';

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** sha256 of a file or folder (regular files only, cancellable): see core/util/hash.ts. */
export { sha256Path };

/** Hash of each data set's files (source, labels, tokenizer), keyed by data set name. */
export async function hashDatasets(datasets: ResolvedDataset[], signal?: AbortSignal): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of datasets) {
    const s = d.source;
    const files = [s.path, 'labels' in s ? s.labels : undefined, s.kind === 'text' && typeof s.tokenizer === 'object' ? s.tokenizer.path : undefined]
      .filter((f): f is string => !!f && existsSync(f));
    const h = createHash('sha256');
    for (const f of files) h.update(await sha256Path(f, signal));
    out[d.name] = h.digest('hex');
  }
  return out;
}

/** Versions of the pieces that produced a run. */
export function toolVersions(addonVersion?: string): RunRecord['versions'] {
  let ortVersion = 'unknown';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ortVersion = (require('onnxruntime-node') as { env: { versions: { common: string } } }).env.versions.common;
  } catch {
    // onnxruntime-node missing: recorded as unknown, evaluation will fail with its own message.
  }
  return { qrecipe: VERSION, ...(addonVersion ? { addon: addonVersion } : {}), onnxruntime: ortVersion, node: process.version };
}
