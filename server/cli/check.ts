import { parseArgs } from 'node:util';
import { encodeReview } from '../imagereview/encode';
import type { ReviewRequest } from '../imagereview/wire-types';
import { displayImage } from '../decision/reasons';
import type { ImageVerdict } from '../decision/image-verdict';
import { createLogger, type LogLevel } from '../observe/logger';
import { createDecisionStack } from './compose';
import { loadServedPolicy } from './policy-source';
import { UsageError } from './args';

/**
 * `imagegate check --config FILE [--namespace NS] [--annotation K=V]... IMAGE...`: the same
 * decision as `serve`, one line per image for a person; `--output json` prints the response
 * ImageReview instead. Exit 0 allowed, 1 denied, 2 bad input or config.
 */
export async function runCheck(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      annotation: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o' },
      'log-level': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('check needs at least one IMAGE');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, found "${output}"`);
  const annotations: Record<string, string> = {};
  for (const a of values.annotation ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`--annotation must be KEY=VALUE, found "${a}"`);
    annotations[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const logger = createLogger((values['log-level'] ?? 'warn') as LogLevel, 'stderr');
  // The policy as `serve` would run it, verifier keys and certificates included: the CLI answers
  // exactly what the server would, and refuses what the server would refuse (exit 2).
  const policy = loadServedPolicy(values.config ? { kind: 'file', path: values.config } : { kind: 'default' }, 1);
  const request: ReviewRequest = { images: positionals, annotations, namespace: values.namespace ?? 'default' };
  const stack = createDecisionStack(logger);
  const decider = stack.decider;
  try {
    const decision = await decider.decideUncached(request, policy);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify(encodeReview(decision), null, 2)}\n`);
    } else {
      for (const v of decision.images) process.stdout.write(`${formatLine(v)}\n`);
      if (decision.breakGlass !== undefined) process.stdout.write(`break-glass in force: ${decision.breakGlass}\n`);
    }
    return decision.allowed ? 0 : 1;
  } finally {
    await stack.close();
  }
}

/** `allowed  IMAGE  rule "r"` / `denied   IMAGE  rule "r"  step: detail`. */
export function formatLine(v: ImageVerdict): string {
  const verdict = v.allowed
    ? v.audited ? 'allowed (audit: would be denied)' : v.failedOpen ? 'allowed (failed open)' : v.brokeGlass ? 'allowed (break-glass)' : 'allowed'
    : 'denied';
  const rule = v.rule !== undefined ? `rule "${v.rule}"` : 'no rule';
  const digest = v.digest ? `  ${v.digest}` : '';
  const detail = v.detail ? `  ${v.detail}` : '';
  return `${verdict.padEnd(7)}  ${displayImage(v)}${digest}  ${rule}${detail}`;
}
