import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { AppDeps } from './app-deps';
import { createReviewHandler, errorSummary } from './review-route';
import { INTERNAL_ERROR_REVIEW, REVIEW_PATHS, reportInternalError } from './review-paths';
import { createReadyzHandler, handleHealthz } from './probes';
import { createMetricsHandler } from './metrics-route';

/**
 * The Hono app. Nothing on the review path falls through to Hono's bare 500: onError answers a
 * review path with a 200 deny (fail closed whatever the apiserver's defaultAllow is).
 *
 * A Node server answers review paths before reaching Hono (review-listener.ts); this app's
 * review route serves whatever takes the other way (an unusual spelling of the path, or a caller
 * of `app.fetch` / `app.request` with no Node server underneath). Both answer through
 * `answerReview`, so their answers are the same.
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
    if ((REVIEW_PATHS as readonly string[]).includes(c.req.path)) {
      reportInternalError(deps, err, c.req.path);
      return c.json(INTERNAL_ERROR_REVIEW, 200);
    }
    deps.logger.error({ event: 'internal-error', path: c.req.path, err: errorSummary(err) }, 'unhandled error');
    return c.json({ error: 'internal error' }, 500);
  });

  return app;
}
