/**
 * The floor: a bare node:https server with imagegate's TLS and client-certificate settings
 * (server/http/tls.ts: requestCert with the client CA, TLS ≥ 1.2, ALPN http/1.1, the same
 * keep-alive timeout) that reads the body from the raw stream, parses the ImageReview JSON and
 * answers one fixed allowed response. No framework, no policy, no log, no metrics: what any Node
 * ImagePolicyWebhook backend costs at least.
 *
 *   node dist/bench/floor-server.js --host 127.0.0.1 --port N --cert F --key F --client-ca F
 *
 * Prints one JSON line {"event":"listening","url":...} on stdout when ready (as imagegate does).
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { httpsServerOptions } from '../server/http/tls';

const ALLOWED = JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
const MAX_BODY = 1024 * 1024;

function main(): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'client-ca': { type: 'string' },
    },
  });
  if (!values.cert || !values.key) throw new Error('--cert and --key are required');
  const server = createServer(
    httpsServerOptions({ cert: values.cert, key: values.key, clientCA: values['client-ca'] }),
    (req, res) => {
      if (values['client-ca'] && !(req.socket as TLSSocket).authorized) {
        res.writeHead(403, { 'content-type': 'application/json', connection: 'close' }).end('{"error":"client certificate required"}');
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        let review: { apiVersion?: unknown; kind?: unknown; spec?: { containers?: unknown } } | undefined;
        try {
          review = size <= MAX_BODY ? JSON.parse(Buffer.concat(chunks, size).toString('utf8')) : undefined;
        } catch {
          review = undefined;
        }
        if (!review || review.kind !== 'ImageReview' || !Array.isArray(review.spec?.containers)) {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not an ImageReview"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(ALLOWED);
      });
    },
  );
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 30_000;
  server.listen(Number(values.port), values.host, () => {
    const a = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ event: 'listening', url: `https://${a.address}:${a.port}`, pid: process.pid })}\n`);
  });
  const stop = () => server.close(() => process.exit(0)) && server.closeAllConnections();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main();
