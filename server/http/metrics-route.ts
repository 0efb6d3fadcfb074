import type { Context } from 'hono';
import type { AppDeps } from './app-deps';

/** GET /metrics in the Prometheus text format. */
export function createMetricsHandler(deps: AppDeps) {
  return async function handleMetrics(c: Context): Promise<Response> {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType });
  };
}
