import type { Context } from 'hono';
import type { AppDeps } from './app-deps';

/** GET /healthz: the process is alive and serving. */
export function handleHealthz(c: Context): Response {
  return c.text('ok\n', 200);
}

/** GET /readyz: policy loaded and trust material readable; 503 with the problems otherwise. */
export function createReadyzHandler(deps: AppDeps) {
  return function handleReadyz(c: Context): Response {
    const { ready, problems } = deps.readiness();
    if (ready) return c.text(`ok (policy generation ${deps.currentPolicy().generation})\n`, 200);
    return c.text(`not ready:\n${problems.map((p) => `- ${p}`).join('\n')}\n`, 503);
  };
}
