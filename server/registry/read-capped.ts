import { LookupError } from '../errors';

/**
 * Reads a body, refusing more than `cap` bytes as they arrive (style.md habit 7). A
 * Content-Length above the cap is refused before reading. Error bodies are truncated silently.
 */
export async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown },
  headers: Record<string, string | string[] | undefined>,
  cap: number,
  strict: boolean,
  what: string,
): Promise<Buffer> {
  const raw = headers['content-length'];
  const declared = Number(Array.isArray(raw) ? raw[0] : raw);
  if (strict && Number.isFinite(declared) && declared > cap) {
    body.destroy();
    throw new LookupError('RESPONSE_TOO_LARGE', `${what} is ${declared} bytes, more than the ${cap}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > cap) {
      body.destroy();
      if (!strict) break;
      throw new LookupError('RESPONSE_TOO_LARGE', `${what} is more than the ${cap}-byte limit`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
