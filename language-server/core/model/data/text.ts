/**
 * Text data sets as token windows. Byte-level tokenisation is the identity on UTF-8 bytes; windows
 * are non-overlapping and in file order for evaluation, or `count` random windows (seeded) for
 * calibration, as GPTQ samples its calibration slices.
 */
import path from 'node:path';
import { Rng } from '../../util/rng';
import { CancelledError } from '../../util/cancel';
import { readRegularFile, RefusedFileError } from '../../util/regular-file';
import { MAX_DATA_FILE_BYTES } from '../../util/limits';
import { DataFileError } from './errors';

export interface WindowOptions {
  /** Random windows instead of consecutive ones (calibration); default: all consecutive windows. */
  count?: number;
  seed?: number;
  /** At most this many consecutive windows (evaluation on a prefix). */
  maxWindows?: number;
}

/**
 * The bytes of a data file: a regular file only (never `/dev/zero` or a FIFO), at most
 * MAX_DATA_FILE_BYTES, read in chunks that honour `signal`.
 */
export async function readBytes(file: string, signal?: AbortSignal): Promise<Uint8Array> {
  const abs = path.resolve(file);
  try {
    return await readRegularFile(abs, MAX_DATA_FILE_BYTES, 'data file', signal);
  } catch (err) {
    if (err instanceof CancelledError) throw err;
    if (err instanceof RefusedFileError) throw new DataFileError(abs, err.reason);
    throw new DataFileError(abs, `cannot read data file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Cuts `tokens` into windows of `seqlen`. Consecutive windows drop the incomplete tail; random
 * windows start anywhere a whole window fits. `file` names the source in errors.
 */
export function tokenWindows(tokens: ArrayLike<number>, seqlen: number, file: string, opts: WindowOptions = {}): Int32Array[] {
  if (!Number.isInteger(seqlen) || seqlen < 2) throw new Error(`window length must be an integer ≥ 2, got ${seqlen}`);
  if (tokens.length < seqlen) {
    throw new DataFileError(file, `${tokens.length} tokens, shorter than one window of ${seqlen}`);
  }
  const out: Int32Array[] = [];
  const take = (start: number): Int32Array => Int32Array.from({ length: seqlen }, (_, k) => tokens[start + k]!);
  if (opts.count !== undefined) {
    const rng = new Rng(opts.seed ?? 0);
    const starts = tokens.length - seqlen + 1;
    for (let k = 0; k < opts.count; k++) out.push(take(rng.int(starts)));
    return out;
  }
  const n = Math.min(Math.floor(tokens.length / seqlen), opts.maxWindows ?? Infinity);
  for (let k = 0; k < n; k++) out.push(take(k * seqlen));
  return out;
}

/** Byte-level windows of a text file. */
export async function byteWindows(file: string, seqlen: number, opts: WindowOptions & { signal?: AbortSignal } = {}): Promise<Int32Array[]> {
  const bytes = await readBytes(file, opts.signal);
  return tokenWindows(bytes, seqlen, path.resolve(file), opts);
}
