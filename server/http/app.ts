import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { AppDeps } from './app-deps';
import { answerReview, createReviewHandler, errorSummary } from './review-route';
import { createReadyzHandler, handleHealthz } from './probes';
import { createMetricsHandler } from './metrics-route';

/** Review paths (interfaces.md "HTTP"): kube-image-bouncer's path and our own. */
export const REVIEW_PATHS = ['/image_policy', '/imagereview'] as const;

/** The answer to a review that failed on a bug: 200 deny (fail closed whatever defaultAllow is). */
const INTERNAL_ERROR_REVIEW = {
  apiVersion: 'imagepolicy.k8s.io/v1alpha1',
  kind: 'ImageReview',
  status: { allowed: false, reason: 'imagegate internal error (see the imagegate log); denied' },
} as const;

/**
 * The Hono app. Nothing on the review path falls through to Hono's bare 500: onError answers a
 * review path with a 200 deny (fail closed whatever the apiserver's defaultAllow is).
 *
 * Reviews take a fast path in front of Hono (`app.fetch` is wrapped): a POST to a review path
 * with a plain path is answered from the raw Node request straight into a Response, without
 * Hono's context, router and header objects, which cost more CPU per review than the decision
 * itself (BENCHMARKS.md). Its answers — status, headers, body, logs, metrics, the 200 deny on an
 * internal error — are the Hono route's; anything unusual (a percent-encoded path, an absolute
 * URL, no Node request underneath) goes through Hono as before.
 */
export function createApp(deps: AppDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const review = createReviewHandler(deps);
  for (const path of REVIEW_PATHS) app.post(path, review);
  app.get('/healthz', handleHealthz);
  app.get('/readyz', createReadyzHandler(deps));
  app.get('/metrics', createMetricsHandler(deps));

  app.notFound(function handleNotFound(c) {
    return c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404);
  });
  const internalError = (err: unknown, path: string) => {
    deps.logger.error({ event: 'internal-error', path, err: errorSummary(err) }, 'unhandled error');
    deps.metrics.reviews.inc({ result: 'denied' });
  };
  app.onError(function handleError(err, c) {
    if ((REVIEW_PATHS as readonly string[]).includes(c.req.path)) {
      internalError(err, c.req.path);
      return c.json(INTERNAL_ERROR_REVIEW, 200);
    }
    deps.logger.error({ event: 'internal-error', path: c.req.path, err: errorSummary(err) }, 'unhandled error');
    return c.json({ error: 'internal error' }, 500);
  });

  const viaHono = app.fetch;
  async function fastReview(incoming: IncomingMessage, path: string): Promise<Response> {
    try {
      const answer = await answerReview(deps, incoming);
      return new Response(answer.body, {
        status: answer.status,
        // The same headers as c.header('Connection', 'close') + c.body(), in the same order.
        headers: answer.close ? { connection: 'close', 'content-type': answer.contentType } : { 'Content-Type': answer.contentType },
      });
    } catch (err) {
      internalError(err, path);
      return new Response(JSON.stringify(INTERNAL_ERROR_REVIEW), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }
  }
  app.fetch = function fetchWithReviewFastPath(request, env, executionCtx) {
    const incoming = (env as HttpBindings | undefined)?.incoming;
    if (incoming !== undefined && incoming.method === 'POST') {
      const path = reviewPathOf(incoming.url);
      if (path !== undefined) return fastReview(incoming, path);
    }
    return viaHono(request, env, executionCtx);
  };
  return app;
}

/** The review path `url` names exactly (a query is ignored, as Hono's router does), else undefined. */
function reviewPathOf(url: string | undefined): string | undefined {
  if (url === undefined || url.charCodeAt(0) !== 47 /* / */ || url.includes('%')) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path === REVIEW_PATHS[0] || path === REVIEW_PATHS[1] ? path : undefined;
}
