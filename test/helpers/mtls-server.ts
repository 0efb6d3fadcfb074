import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestPki } from './pki';

export interface MtlsServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * A node:https server on 127.0.0.1 that requires a client certificate from the test CA and hands
 * each request's whole body, as text, to `onBody`.
 */
export async function startMtlsServer(pki: TestPki, onBody: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<MtlsServer> {
  const options = { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert), requestCert: true, rejectUnauthorized: true };
  const server = createServer(options, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => onBody(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `https://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
