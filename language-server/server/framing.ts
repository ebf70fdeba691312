/**
 * The stdio transport's framing, checked before vscode-jsonrpc reads it (issue 20 #9): a header
 * whose Content-Length is negative, not a number or beyond MAX_LSP_MESSAGE_BYTES would otherwise
 * stall the reader forever (it waits for a body that never comes) or make it buffer gigabytes. This
 * stream passes on only well-formed frames, rewritten canonically; a bad header is dropped (and the
 * body of an oversized message skipped without being held), reported through `onDrop`, and reading
 * goes on with the next frame. IPC (what VS Code uses) has no framing and does not go through it.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { MAX_LSP_MESSAGE_BYTES } from '../core/util/limits';

/** Longest header block kept while waiting for its end. */
const MAX_HEADER_BYTES = 8192;
const SEP = Buffer.from('\r\n\r\n');

export class FrameFilter extends Transform {
  /** Bytes of the header being read (small: at most MAX_HEADER_BYTES are kept). */
  private head: Buffer = Buffer.alloc(0);
  /** The body being read: its length and the chunks so far (joined once, when whole). */
  private body: { len: number; parts: Buffer[]; have: number } | undefined;
  /** Body bytes of a refused (oversized) message still to skip. */
  private skip = 0;

  constructor(private readonly onDrop: (why: string) => void = () => undefined) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let c = chunk;
    while (c.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, c.length);
        this.skip -= n;
        c = c.subarray(n);
      } else if (this.body) {
        const b = this.body;
        const n = Math.min(b.len - b.have, c.length);
        b.parts.push(c.subarray(0, n));
        b.have += n;
        c = c.subarray(n);
        if (b.have === b.len) {
          this.push(Buffer.from(`Content-Length: ${b.len}\r\n\r\n`, 'ascii'));
          this.push(Buffer.concat(b.parts as Uint8Array[], b.len));
          this.body = undefined;
        }
      } else {
        c = this.header(c);
      }
    }
    done();
  }

  /** Reads header bytes from `c`; returns what follows the header (or nothing while it is incomplete). */
  private header(c: Buffer): Buffer {
    const all = this.head.length ? Buffer.concat([this.head as Uint8Array, c as Uint8Array]) : c;
    const sep = all.indexOf(SEP as Uint8Array);
    if (sep < 0) {
      this.head = all.length > MAX_HEADER_BYTES ? all.subarray(all.length - 3) : all; // a separator may straddle chunks
      if (all.length > MAX_HEADER_BYTES) this.onDrop(`a header without an end in ${all.length} bytes`);
      return Buffer.alloc(0);
    }
    this.head = Buffer.alloc(0);
    const text = all.subarray(0, sep).toString('latin1');
    const rest = all.subarray(sep + SEP.length);
    // resynchronise after junk: a header may start in the middle of a line of garbage
    const at = text.search(/content-length:[^\r\n]*$/im);
    if (at > 0 && !/(^|\n)content-length:/i.test(text)) {
      this.onDrop(`${at} bytes before a header`);
      return all.subarray(at);
    }
    const m = /^content-length:[ \t]*([^\r\n]*?)[ \t]*$/im.exec(text);
    const value = m?.[1];
    const len = value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
    if (Number.isNaN(len)) {
      this.onDrop(m ? `Content-Length '${value}' is not a byte count` : 'a header without Content-Length');
      return rest;
    }
    if (len > MAX_LSP_MESSAGE_BYTES) {
      this.onDrop(`a message of ${len} bytes, more than the ${MAX_LSP_MESSAGE_BYTES} accepted`);
      this.skip = len;
      return rest;
    }
    this.body = { len, parts: [], have: 0 };
    if (len === 0) { this.push(Buffer.from('Content-Length: 0\r\n\r\n', 'ascii')); this.body = undefined; }
    return rest;
  }
}
