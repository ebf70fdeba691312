/**
 * Content hashes of input files and folders (a run records them): streamed, regular files only,
 * cancellable between chunks, folders walked without following a link into a folder already seen
 * and with a bound on the number of files, so `/dev/zero`, a FIFO or a link loop cannot keep a run
 * busy forever (issue 20, point 3).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CancelledError } from './cancel';
import { kindOf, RefusedFileError, streamRegularFile } from './regular-file';
import { MAX_HASHED_FILES } from './limits';

/** sha256 of a file, or of a folder's relative file names and contents in sorted order. */
export async function sha256Path(p: string, signal?: AbortSignal, what = 'data file'): Promise<string> {
  const h = createHash('sha256');
  const st = await fs.stat(p);
  if (st.isDirectory()) {
    const seen = new Set<string>();
    let files = 0;
    const walk = async (dir: string): Promise<void> => {
      const real = await fs.realpath(dir);
      if (seen.has(real)) return; // a link back up the tree
      seen.add(real);
      const entries = (await fs.readdir(dir)).sort();
      for (const name of entries) {
        if (signal?.aborted) throw new CancelledError(`hashing ${p}`);
        const f = path.join(dir, name);
        const s = await fs.stat(f).catch(() => undefined);
        if (!s) continue; // a dangling link: nothing to read
        if (s.isDirectory()) { await walk(f); continue; }
        if (!s.isFile()) throw new RefusedFileError(f, `the ${what} is ${kindOf(s)}, not a regular file`);
        if (++files > MAX_HASHED_FILES) throw new RefusedFileError(p, `the folder holds more than ${MAX_HASHED_FILES.toLocaleString('en-US')} files`);
        h.update(path.relative(p, f) + '\0');
        await streamRegularFile(f, what, (chunk) => h.update(chunk), signal);
      }
    };
    await walk(p);
  } else {
    await streamRegularFile(p, what, (chunk) => h.update(chunk), signal);
  }
  return h.digest('hex');
}
