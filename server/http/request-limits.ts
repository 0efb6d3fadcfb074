import type { IncomingMessage } from 'node:http';
import { DecodeError } from '../errors';

/**
 * Request bodies over 1 MiB are refused with 413 (interfaces.md "HTTP"). A real ImageReview is a
 * few hundred bytes to a few KiB (contract.md §3); 1 MiB is the spec's number. Bytes are counted
 * on the raw Node stream as they arrive (style.md example 7; issue #5: hono/body-limit's WHATWG
 * stream path cost 70% of throughput), and a declared Content-Length over the cap is refused
 * before reading anything.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Who gets the body (or why there is none): called exactly once, from the request's events. */
export interface BodyReceiver {
  bodyRead(err: DecodeError | undefined, body: Buffer | undefined): void;
}

/**
 * Reads the whole body into `receiver`, or BODY_TOO_LARGE as soon as the cap is passed. The
 * receiver is an object, the listeners are shared
 * module-level functions and the read's state hangs off the request, so a review allocates no
 * closures here (creating and first-calling nine closures per request was measurable on the
 * cached path, BENCHMARKS.md). `receiver.bodyRead` must not throw: it runs in an event handler.
 */
export function readBodyCappedTo(incoming: IncomingMessage, cap: number, receiver: BodyReceiver): void {
  const declared = incoming.headers['content-length'];
  if (declared !== undefined && Number(declared) > cap) {
    receiver.bodyRead(tooLarge(cap, Number(declared)), undefined);
    return;
  }
  (incoming as WithBody)[BODY] = new CappedBody(cap, receiver);
  // Listeners stay attached after the answer (removing four per request was measurable, and the
  // request object is dropped with them); `settled` makes every later event a no-op. Node emits
  // 'error' on a request only when it has a listener, so none can go unhandled either way.
  incoming.on('data', onData);
  incoming.on('end', onEnd);
  incoming.on('error', onError);
  incoming.on('aborted', onAborted);
}

const BODY = Symbol('imagegate.cappedBody');
type WithBody = IncomingMessage & { [BODY]?: CappedBody };

class CappedBody {
  readonly chunks: Buffer[] = [];
  size = 0;
  settled = false;

  constructor(readonly cap: number, private readonly receiver: BodyReceiver) {}

  settle(err: DecodeError | undefined, body: Buffer | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.receiver.bodyRead(err, body);
  }
}

function onData(this: WithBody, chunk: Buffer): void {
  const b = this[BODY];
  if (b === undefined || b.settled) return;
  b.size += chunk.length;
  if (b.size > b.cap) {
    this.pause();
    b.settle(tooLarge(b.cap), undefined);
    return;
  }
  b.chunks.push(chunk);
}

function onEnd(this: WithBody): void {
  const b = this[BODY];
  if (b === undefined) return;
  b.settle(undefined, b.chunks.length === 1 ? (b.chunks[0] as Buffer) : Buffer.concat(b.chunks, b.size));
}

function onError(this: WithBody, err: Error): void {
  this[BODY]?.settle(new DecodeError('MALFORMED_JSON', `request body could not be read: ${err.message}`, err), undefined);
}

function onAborted(this: WithBody): void {
  this[BODY]?.settle(new DecodeError('MALFORMED_JSON', 'the client closed the request before the body was complete'), undefined);
}

function tooLarge(cap: number, declared?: number): DecodeError {
  return new DecodeError(
    'BODY_TOO_LARGE',
    `request body ${declared !== undefined ? `of ${declared} bytes ` : ''}exceeds the ${cap}-byte limit`,
  );
}

/**
 * The apiserver sends `Content-Type: application/json` (contract.md §2). Parameters such as
 * `charset=utf-8` are accepted; any other media type, or none, is 415.
 */
export function checkContentType(header: string | undefined): void {
  const value = header ?? '';
  const semi = value.indexOf(';');
  const mediaType = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new DecodeError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be application/json, found ${header ? JSON.stringify(header) : 'none'}`,
    );
  }
}
