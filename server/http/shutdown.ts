import type { Server } from 'node:http';

/**
 * SIGTERM: stop accepting, let in-flight reviews finish, then exit; connections still busy after
 * `graceMs` are cut. Idle keep-alive connections are closed at once so the apiserver reconnects
 * to another replica.
 */
export function gracefulClose(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const hard = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    hard.unref();
    server.close(() => {
      clearTimeout(hard);
      resolve();
    });
    server.closeIdleConnections();
  });
}
