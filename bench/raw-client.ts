/**
 * The load generator's HTTP/1.1 client: one keep-alive TLS connection presenting the client
 * certificate, one request in flight at a time (no pipelining, as the apiserver's Go client),
 * requests written as prebuilt bytes and answers read with a minimal parser (status line, then a
 * Content-Length or chunked body). The caller checks every answer (loadgen.ts).
 *
 * Why not undici: its per-request machinery cost the load generator 62–73 µs of CPU per review,
 * so driving the floor at 15k reviews/s took 90–95 % of the load core and the floor's numbers were
 * partly the loader's (BENCHMARKS.md item 28). This client costs 42–52 µs.
 */
import { connect, type TLSSocket } from 'node:tls';

export interface RawAnswer {
  status: number;
  body: Buffer;
}

/** A connection silent this long while a request is in flight is dropped with an error. */
const IDLE_TIMEOUT_MS = 10_000;
const HEADER_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

export class RawConnection {
  private socket: TLSSocket | undefined;
  private connecting: Promise<TLSSocket> | undefined;
  private pending: { resolve: (a: RawAnswer) => void; reject: (e: Error) => void } | undefined;
  private buf: Buffer = EMPTY;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer },
  ) {}

  /** Sends `request` (a whole HTTP/1.1 request) and resolves with the answer. */
  async send(request: Buffer): Promise<RawAnswer> {
    if (this.pending) throw new Error('RawConnection: one request at a time');
    const socket = this.socket ?? (await this.open());
    return new Promise<RawAnswer>((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Promise<TLSSocket> {
    this.connecting ??= new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key });
      socket.setNoDelay(true);
      socket.setTimeout(IDLE_TIMEOUT_MS, () => {
        if (this.pending) socket.destroy(new Error(`no answer in ${IDLE_TIMEOUT_MS} ms`));
      });
      const fail = (err: Error) => {
        if (this.socket === socket) this.socket = undefined;
        this.connecting = undefined;
        this.buf = EMPTY;
        this.settle(err);
        reject(err);
      };
      socket.once('secureConnect', () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          this.onData(chunk);
        } catch (err) {
          socket.destroy(err as Error);
        }
      });
      socket.on('error', fail);
      socket.on('close', () => fail(new Error('connection closed by the server')));
    });
    return this.connecting;
  }

  private settle(result: RawAnswer | Error): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const parsed = parseAnswer(this.buf);
    if (!parsed) return;
    if (!this.pending) throw new Error('an answer arrived with no request in flight');
    this.buf = parsed.rest < this.buf.length ? this.buf.subarray(parsed.rest) : EMPTY;
    if (parsed.close) this.close();
    this.settle(parsed.answer);
  }
}

/**
 * One whole answer from the front of `buf` and where it ends, or undefined while it is incomplete.
 * Throws on an answer this client cannot frame (no Content-Length and not chunked).
 */
export function parseAnswer(buf: Buffer): { answer: RawAnswer; rest: number; close: boolean } | undefined {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return undefined;
  const head = buf.toString('latin1', 0, end).toLowerCase();
  const status = Number(head.slice(9, 12));
  const bodyStart = end + 4;
  const close = head.includes('\r\nconnection: close');
  const cl = head.indexOf('\r\ncontent-length:');
  if (cl >= 0) {
    const lineEnd = head.indexOf('\r\n', cl + 2);
    const len = Number.parseInt(head.slice(cl + 17, lineEnd < 0 ? head.length : lineEnd), 10);
    if (!Number.isSafeInteger(len) || len < 0) throw new Error(`bad Content-Length in ${JSON.stringify(head.slice(0, 200))}`);
    if (buf.length < bodyStart + len) return undefined;
    return { answer: { status, body: buf.subarray(bodyStart, bodyStart + len) }, rest: bodyStart + len, close };
  }
  if (head.includes('\r\ntransfer-encoding: chunked')) {
    const parts: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error('bad chunk size');
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return { answer: { status, body: Buffer.concat(parts) }, rest: lineEnd + 4, close };
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  throw new Error(`an answer without Content-Length or chunked framing: ${JSON.stringify(head.slice(0, 200))}`);
}

/** The whole request for `body`, ready to write. */
export function rawRequest(host: string, path: string, body: string): Buffer {
  return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
