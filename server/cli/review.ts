import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DecodeError } from '../errors';
import { decodeReview, parseReviewJson } from '../imagereview/decode';
import { encodeReview } from '../imagereview/encode';
import { createLogger, type LogLevel } from '../observe/logger';
import { createDecisionStack } from './compose';
import { loadServedPolicy } from './policy-source';
import { UsageError } from './args';

const STDIN_MAX_BYTES = 1024 * 1024; // the same 1 MiB the HTTP layer accepts (interfaces.md "HTTP")

/**
 * `imagegate review --config FILE [FILE.json | -]`: one ImageReview in, the response ImageReview
 * on stdout and nothing else; exit 0 allowed, 1 denied, 2 bad input or config.
 */
export async function runReview(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { config: { type: 'string' }, 'log-level': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError('review takes at most one input file (or - for stdin)');
  const logger = createLogger((values['log-level'] ?? 'warn') as LogLevel, 'stderr');
  // The policy as `serve` would run it, verifier keys and certificates included: the CLI answers
  // exactly what the server would, and refuses what the server would refuse (exit 2).
  const policy = loadServedPolicy(values.config ? { kind: 'file', path: values.config } : { kind: 'default' }, 1);
  const input = positionals[0] ?? '-';
  const body = input === '-' ? await readStdin() : readFileSync(input);
  if (body.length > STDIN_MAX_BYTES) throw new DecodeError('BODY_TOO_LARGE', `input exceeds ${STDIN_MAX_BYTES} bytes`);
  const request = decodeReview(parseReviewJson(body));
  const stack = createDecisionStack(logger);
  const decider = stack.decider;
  try {
    const decision = await decider.decideUncached(request, policy);
    process.stdout.write(`${JSON.stringify(encodeReview(decision))}\n`);
    return decision.allowed ? 0 : 1;
  } finally {
    await stack.close();
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > STDIN_MAX_BYTES) throw new DecodeError('BODY_TOO_LARGE', `input exceeds ${STDIN_MAX_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
