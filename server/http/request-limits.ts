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

/** Reads the whole body, or rejects with BODY_TOO_LARGE as soon as the cap is passed. */
export function readBodyCapped(incoming: IncomingMessage, cap = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    readBodyCappedThen(incoming, cap, (err, body) => (err !== undefined ? reject(err) : resolve(body as Buffer)));
  });
}

/**
 * `readBodyCapped` with a callback, called exactly once: the review path answers a cached review
 * in the turn its body completes, without a promise in between (BENCHMARKS.md).
 */
export function readBodyCappedThen(
  incoming: IncomingMessage,
  cap: number,
  done: (err: DecodeError | undefined, body: Buffer | undefined) => void,
): void {
  const declared = incoming.headers['content-length'];
  if (declared !== undefined && Number(declared) > cap) {
    done(tooLarge(cap, Number(declared)), undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Listeners stay attached after the answer (removing four per request was measurable, and the
  // request object is dropped with them); `settled` makes every later event a no-op. Node emits
  // 'error' on a request only when it has a listener, so none can go unhandled either way.
  let settled = false;
  const settle = (err: DecodeError | undefined, body: Buffer | undefined) => {
    if (settled) return;
    settled = true;
    done(err, body);
  };
  const onData = (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > cap) {
      incoming.pause();
      settle(tooLarge(cap), undefined);
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => settle(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  const onError = (err: Error) =>
    settle(new DecodeError('MALFORMED_JSON', `request body could not be read: ${err.message}`, err), undefined);
  const onAborted = () =>
    settle(new DecodeError('MALFORMED_JSON', 'the client closed the request before the body was complete'), undefined);
  incoming.on('data', onData);
  incoming.on('end', onEnd);
  incoming.on('error', onError);
  incoming.on('aborted', onAborted);
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
