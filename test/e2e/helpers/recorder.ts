import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** One request exactly as it arrived: raw header list (order and case kept) and body bytes. */
export interface RecordedRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The client certificate verified against the CA. */
  authorized: boolean;
  clientCN: string | undefined;
  /** ALPN protocols the client offered, in its order, and the one agreed. */
  alpnOffered: string[];
  alpnNegotiated: string | false | null;
  /** SNI the client sent (false: none, as for an IP address). */
  servername: string | false;
}

export interface Recorder {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A stand-in for imagegate that records what kube-apiserver sends: it presents imagegate's serving
 * certificate, asks for the client certificate like imagegate does (verified against the same CA),
 * notes the ALPN list the client offers (and, like imagegate, agrees on http/1.1 only), and
 * answers every request with a well-formed ImageReview whose status `answer` decides.
 */
export function startRecorder(opts: {
  host: string;
  port: number;
  cert: string;
  key: string;
  clientCA: string;
  answer: (body: Buffer) => { allowed: boolean; reason?: string; auditAnnotations?: Record<string, string> };
}): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const offers = new WeakMap<object, { protocols: string[]; servername: string | false }>();
  let lastOffer: { protocols: string[]; servername: string | false } = { protocols: [], servername: false };
  const server: Server = createServer(
    {
      cert: readFileSync(opts.cert),
      key: readFileSync(opts.key),
      ca: readFileSync(opts.clientCA),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNCallback: ({ servername, protocols }) => {
        lastOffer = { protocols: [...protocols], servername: servername || false };
        return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
      },
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const socket = req.socket as TLSSocket;
        const offer = offers.get(socket) ?? lastOffer;
        const peer = socket.getPeerCertificate();
        const body = Buffer.concat(chunks);
        requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          httpVersion: req.httpVersion,
          rawHeaders: [...req.rawHeaders],
          headers: { ...req.headers },
          body,
          authorized: socket.authorized,
          clientCN: peer && peer.subject ? String(peer.subject.CN) : undefined,
          alpnOffered: offer.protocols,
          alpnNegotiated: socket.alpnProtocol,
          servername: offer.servername,
        });
        const status = opts.answer(body);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status }));
      });
    },
  );
  // ALPNCallback runs before the secure connection exists; tie the offer to its socket here.
  server.on('secureConnection', (socket) => offers.set(socket, lastOffer));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      resolve({
        url: `https://${opts.host}:${opts.port}`,
        requests,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
