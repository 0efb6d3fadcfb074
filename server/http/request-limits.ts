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
  const declared = incoming.headers['content-length'];
  if (declared !== undefined && Number(declared) > cap) {
    return Promise.reject(tooLarge(cap, Number(declared)));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        cleanup();
        incoming.pause();
        reject(tooLarge(cap));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new DecodeError('MALFORMED_JSON', `request body could not be read: ${err.message}`, err));
    };
    const onAborted = () => {
      cleanup();
      reject(new DecodeError('MALFORMED_JSON', 'the client closed the request before the body was complete'));
    };
    function cleanup() {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('aborted', onAborted);
    }
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('aborted', onAborted);
  });
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
  const mediaType = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== 'application/json') {
    throw new DecodeError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be application/json, found ${header ? JSON.stringify(header) : 'none'}`,
    );
  }
}
