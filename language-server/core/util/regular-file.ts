/**
 * Reading input files that come from strangers: only regular files (never `/dev/zero`, a FIFO, a
 * socket or a folder), opened without blocking (a FIFO with no writer would otherwise hang the
 * open), size-checked against a bound before anything is allocated, read in chunks that honour an
 * AbortSignal. Used for models, external data and data sets (issue 20, point 3).
 */
import { closeSync, constants, fstatSync, openSync, promises as fs, type Stats } from 'node:fs';
import { CancelledError } from './cancel';
import { formatBytes } from './format';

/** A file refused for its kind or size; `reason` is the user-facing sentence without the path. */
export class RefusedFileError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'RefusedFileError';
  }
}

/** O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (0 where unknown). */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function check(file: string, st: Stats, what: string, maxBytes: number): void {
  if (!st.isFile()) throw new RefusedFileError(file, `the ${what} is ${kindOf(st)}, not a regular file`);
  if (st.size > maxBytes) throw new RefusedFileError(file, `the ${what} is ${formatBytes(st.size)}, more than the ${formatBytes(maxBytes)} QRecipe reads`);
}

/** Opens a regular file for reading (synchronously); the caller closes `fd`. */
export function openRegularFile(file: string, what: string, maxBytes = Number.MAX_SAFE_INTEGER): { fd: number; size: number } {
  const fd = openSync(file, OPEN_FLAGS);
  try {
    const st = fstatSync(fd);
    check(file, st, what, maxBytes);
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

const CHUNK = 16 << 20;

/**
 * The bytes of a regular file of at most `maxBytes`, read in chunks (the signal is checked between
 * them). A file that grows while being read is read up to the size it had when opened.
 */
export async function readRegularFile(file: string, maxBytes: number, what: string, signal?: AbortSignal): Promise<Uint8Array> {
  const h = await fs.open(file, OPEN_FLAGS);
  try {
    const st = await h.stat();
    check(file, st, what, maxBytes);
    const out = new Uint8Array(st.size);
    let done = 0;
    while (done < out.length) {
      if (signal?.aborted) throw new CancelledError(`reading ${file}`);
      const { bytesRead } = await h.read(out, done, Math.min(CHUNK, out.length - done), done);
      if (bytesRead === 0) return out.subarray(0, done); // shrank while read
      done += bytesRead;
    }
    return out;
  } finally {
    await h.close();
  }
}

/** Calls `onChunk` with successive chunks of a regular file (for hashing without holding it whole). */
export async function streamRegularFile(file: string, what: string, onChunk: (chunk: Uint8Array) => void, signal?: AbortSignal): Promise<number> {
  const h = await fs.open(file, OPEN_FLAGS);
  try {
    const st = await h.stat();
    check(file, st, what, Number.MAX_SAFE_INTEGER);
    const buf = new Uint8Array(Math.min(CHUNK, Math.max(st.size, 1)));
    let done = 0;
    while (done < st.size) {
      if (signal?.aborted) throw new CancelledError(`reading ${file}`);
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, st.size - done), done);
      if (bytesRead === 0) break;
      onChunk(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    return done;
  } finally {
    await h.close();
  }
}

/** The first `maxBytes` bytes (or fewer) of a regular file of any size: a preview, never the whole file. */
export async function readRegularFileHead(file: string, maxBytes: number, what: string): Promise<Uint8Array> {
  const h = await fs.open(file, OPEN_FLAGS);
  try {
    const st = await h.stat();
    check(file, st, what, Number.MAX_SAFE_INTEGER);
    const out = new Uint8Array(Math.min(st.size, maxBytes));
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await h.read(out, done, out.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return out.subarray(0, done);
  } finally {
    await h.close();
  }
}
