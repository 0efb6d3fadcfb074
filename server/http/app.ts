import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { AppDeps } from './app-deps';
import { createReviewHandler, errorSummary } from './review-route';
import { createReadyzHandler, handleHealthz } from './probes';
import { createMetricsHandler } from './metrics-route';

/** Review paths (interfaces.md "HTTP"): kube-image-bouncer's path and our own. */
export const REVIEW_PATHS = ['/image_policy', '/imagereview'] as const;

/**
 * The Hono app. Nothing on the review path falls through to Hono's bare 500: onError answers a
 * review path with a 200 deny (fail closed whatever the apiserver's defaultAllow is).
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
  app.onError(function handleError(err, c) {
    deps.logger.error({ event: 'internal-error', path: c.req.path, err: errorSummary(err) }, 'unhandled error');
    if ((REVIEW_PATHS as readonly string[]).includes(c.req.path)) {
      deps.metrics.reviews.inc({ result: 'denied' });
      return c.json(
        {
          apiVersion: 'imagepolicy.k8s.io/v1alpha1',
          kind: 'ImageReview',
          status: { allowed: false, reason: 'imagegate internal error (see the imagegate log); denied' },
        },
        200,
      );
    }
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
