/**
 * One scratch file that takes byte blobs beyond what a run keeps in memory (activations, compressed
 * weights): write returns a span, a freed span is reused by a blob of the same size, read returns
 * a copy. Before the file grows it checks the folder's free space; a full disk fails with the
 * folder and its free space (ScratchSpaceError). `close()` removes the file.
 */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { formatBytes } from '../../../../language-server/core/util/format';

/** Thrown when the scratch folder cannot take what must be spilled. */
export class ScratchSpaceError extends Error {
  constructor(readonly dir: string, needed: number, free: number | undefined, what: string, cause?: string) {
    super(`${dir}: no room to spill ${what} (${formatBytes(needed)} needed, ${free === undefined ? 'free space unknown' : `${formatBytes(free)} free`})${cause ? `: ${cause}` : ''}`);
    this.name = 'ScratchSpaceError';
  }
}

export interface Span { offset: number; length: number }

/** Free bytes of the file system holding `dir` (undefined when unknown). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const st = await fs.statfs(dir);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

/** Room kept free on the disk beside what is spilled. */
const MARGIN = 64 * 1048576;

export class SpillFile {
  private file?: fs.FileHandle;
  private end = 0;
  private readonly slots: Span[] = [];
  /** Bytes written in total, and the file's size. */
  written = 0;

  /** @param free free bytes of the folder's file system (replaceable for tests) */
  constructor(readonly dir: string, readonly name: string, private readonly what: string, private readonly free: (dir: string) => Promise<number | undefined> = freeBytes) {}

  get path(): string {
    return path.join(this.dir, this.name);
  }

  get size(): number {
    return this.end;
  }

  async write(bytes: Uint8Array): Promise<Span> {
    const slot = this.slots.findIndex((f) => f.length === bytes.byteLength);
    let at: Span;
    if (slot >= 0) {
      at = this.slots.splice(slot, 1)[0]!;
    } else {
      await fs.mkdir(this.dir, { recursive: true });
      const free = await this.free(this.dir);
      if (free !== undefined && free < bytes.byteLength + MARGIN) throw new ScratchSpaceError(this.dir, bytes.byteLength, free, this.what);
      this.file ??= await fs.open(this.path, 'w+');
      at = { offset: this.end, length: bytes.byteLength };
      this.end += bytes.byteLength;
    }
    try {
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await this.file!.write(bytes, done, bytes.byteLength - done, at.offset + done);
        done += bytesWritten;
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') throw new ScratchSpaceError(this.dir, bytes.byteLength, await this.free(this.dir), this.what, e.code);
      throw err;
    }
    this.written += bytes.byteLength;
    return at;
  }

  async read(s: Span): Promise<Uint8Array> {
    const out = new Uint8Array(s.length);
    let done = 0;
    while (done < s.length) {
      const { bytesRead } = await this.file!.read(out, done, s.length - done, s.offset + done);
      if (!bytesRead) throw new Error(`${this.path}: ended early`);
      done += bytesRead;
    }
    return out;
  }

  release(s: Span): void {
    this.slots.push(s);
  }

  async close(): Promise<void> {
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    await fs.rm(this.path, { force: true });
  }
}
