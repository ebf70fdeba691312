// A small JSON-RPC client over stdio for driving the real language server process in tests and
// benchmarks: Content-Length framing, requests with ids, notifications, and waiting for a
// notification that satisfies a predicate. Server → client requests are answered with null.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

type Json = unknown;
interface Message { jsonrpc: '2.0'; id?: number | string; method?: string; params?: Json; result?: Json; error?: { code: number; message: string } }

export class LspClient {
  private buf: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private readonly waiters: { method: string; pred: (p: Json) => boolean; resolve: (p: Json) => void }[] = [];
  /** Every notification received, in order. */
  readonly notifications: { method: string; params: Json }[] = [];
  stderr = '';

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => this.onData(d));
    proc.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }

  /** Starts `node dist/server.js --stdio` (or `serverPath`) and runs the initialize handshake. */
  static async start(serverPath = path.join(process.cwd(), 'dist', 'server.js'), env: Record<string, string> = {}): Promise<LspClient> {
    if (!existsSync(serverPath)) throw new Error(`${serverPath} is missing: build it with node extension/scripts/esbuild.mjs`);
    const proc = spawn(process.execPath, [serverPath, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const c = new LspClient(proc);
    await c.request('initialize', { processId: process.pid, rootUri: null, capabilities: { textDocument: { publishDiagnostics: {} } } });
    c.notify('initialized', {});
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf as Uint8Array, d as Uint8Array]);
    for (;;) {
      const sep = this.buf.indexOf('\r\n\r\n');
      if (sep < 0) return;
      const m = /Content-Length: (\d+)/i.exec(this.buf.subarray(0, sep).toString('ascii'));
      if (!m) throw new Error('bad header from server');
      const len = Number(m[1]);
      if (this.buf.length < sep + 4 + len) return;
      const msg = JSON.parse(this.buf.subarray(sep + 4, sep + 4 + len).toString('utf8')) as Message;
      this.buf = this.buf.subarray(sep + 4 + len);
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Message): void {
    if (msg.id !== undefined && msg.method) { this.send({ jsonrpc: '2.0', id: msg.id, result: null }); return; }
    if (msg.id !== undefined) {
      const p = this.pending.get(Number(msg.id));
      if (!p) return;
      this.pending.delete(Number(msg.id));
      if (msg.error) p.reject(new Error(`${msg.error.code}: ${msg.error.message}`));
      else p.resolve(msg.result);
      return;
    }
    if (!msg.method) return;
    this.notifications.push({ method: msg.method, params: msg.params });
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w.method === msg.method && w.pred(msg.params)) { this.waiters.splice(i, 1); w.resolve(msg.params); }
    }
  }

  private send(m: Message): void {
    const body = Buffer.from(JSON.stringify(m), 'utf8');
    this.proc.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.proc.stdin!.write(body);
  }

  request<T = Json>(method: string, params: Json): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: Json) => void, reject });
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  notify(method: string, params: Json): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  /** The next notification `method` whose params satisfy `pred` (rejects after `timeoutMs`). */
  waitFor<T = Json>(method: string, pred: (p: T) => boolean, timeoutMs = 10000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w = { method, pred: pred as (p: Json) => boolean, resolve: resolve as (p: Json) => void };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) { this.waiters.splice(i, 1); reject(new Error(`timed out waiting for ${method}; stderr: ${this.stderr.slice(-2000)}`)); }
      }, timeoutMs).unref();
    });
  }

  async stop(): Promise<void> {
    try { await Promise.race([this.request('shutdown', null), new Promise((r) => setTimeout(r, 2000))]); this.notify('exit', null); } catch { /* already gone */ }
    await new Promise<void>((r) => { if (this.proc.exitCode !== null) r(); else { this.proc.once('exit', () => r()); setTimeout(() => { this.proc.kill(); r(); }, 2000).unref(); } });
  }
}

export interface PublishedDiagnostics {
  uri: string;
  version?: number;
  diagnostics: { range: { start: { line: number; character: number }; end: { line: number; character: number } }; severity: number; code: string; message: string }[];
}
