import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { DecodeError } from '../errors';
import { decodeReview, parseReviewJson } from '../imagereview/decode';
import { encodeReview } from '../imagereview/encode';
import type { ReviewDecision } from '../decision/decide-review';
import { buildDecisionRecord } from '../observe/audit-record';
import { decisionLogger } from '../observe/logger';
import { clientIdentity } from './client-identity';
import { checkContentType, readBodyCapped } from './request-limits';
import type { AppDeps } from './app-deps';

/**
 * POST /image_policy and /imagereview.
 *
 * | situation                                         | answer                                  |
 * |---------------------------------------------------|-----------------------------------------|
 * | client CA configured, no verified client cert     | 403, body not read, connection closed   |
 * | Content-Type not application/json                 | 415                                     |
 * | body over 1 MiB                                   | 413                                     |
 * | not JSON / not an imagepolicy.k8s.io/v1alpha1     | 400 with the reason                     |
 * |   ImageReview / no spec / wrong field types       |                                         |
 * | well-formed review                                | 200, allowed true/false, reason         |
 * | anything failing after decode                     | 200, allowed false (never a 5xx)        |
 *
 * 4xx answers make the apiserver apply defaultAllow (contract.md §5.1); after a successful
 * decode every answer is 200 so that the decision, not the apiserver's default, stands
 * (style.md anti-pattern 3).
 */
export function createReviewHandler(deps: AppDeps) {
  return async function handleImageReview(c: Context<{ Bindings: HttpBindings }>): Promise<Response> {
    const started = process.hrtime.bigint();
    const incoming = c.env.incoming;
    const identity = clientIdentity(incoming);
    if (deps.requireClientCert && !identity.verified) {
      deps.metrics.reviews.inc({ result: 'error' });
      c.header('Connection', 'close');
      return c.json({ error: 'a client certificate signed by the configured client CA is required' }, 403);
    }

    let request;
    try {
      checkContentType(c.req.header('content-type'));
      const body = await readBodyCapped(incoming);
      request = decodeReview(parseReviewJson(body));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      deps.metrics.reviews.inc({ result: 'error' });
      deps.logger.info({ event: 'rejected-request', code: err.code, reason: err.message, client: identity.subject ?? null }, 'rejected request');
      // The body was not (fully) read: close so its rest is never parsed as a next request.
      if (err.code === 'BODY_TOO_LARGE' || err.code === 'UNSUPPORTED_MEDIA_TYPE') c.header('Connection', 'close');
      return c.json({ error: err.message, code: err.code }, err.httpStatus);
    }

    const policy = deps.currentPolicy();
    let decision: ReviewDecision;
    try {
      decision = await deps.decider.decide(request, policy);
    } catch (err) {
      // The decider catches per image; this is the last line so a bug is still a 200 deny.
      deps.logger.error({ event: 'internal-error', err: errorSummary(err) }, 'review failed unexpectedly');
      decision = internalErrorDecision(request.images, policy.generation);
    }

    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    deps.metrics.reviews.inc({ result: decision.allowed ? 'allowed' : 'denied' });
    deps.metrics.reviewDuration.observe(seconds);
    if (deps.logger.isLevelEnabled('info')) {
      decisionLogger(deps.logger).info(
        buildDecisionRecord(
          { requestId: randomUUID(), clientSubject: identity.subject, namespace: request.namespace, durationMs: seconds * 1000 },
          decision,
        ),
      );
    }
    return c.json(encodeReview(decision), 200);
  };
}

function internalErrorDecision(images: readonly string[], generation: number): ReviewDecision {
  return {
    allowed: false,
    reason: 'imagegate could not evaluate this review (internal error; see the imagegate log); denied',
    auditAnnotations: {},
    images: images.map((image) => ({
      image, normalized: undefined, digest: undefined, rule: undefined, allowed: false, step: 'internal',
      code: 'INTERNAL_ERROR', detail: 'internal error', audited: false, failedOpen: false, brokeGlass: false,
    })),
    breakGlass: undefined,
    generation,
    cacheHit: false,
  };
}

/** Only the name, code and message of an error: never its properties (they may hold headers). */
export function errorSummary(err: unknown): { name: string; code?: string; message: string; stack?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  }
  return { name: 'non-error', message: String(err) };
}
