import type { IncomingMessage } from 'node:http';
import type { TLSSocket, PeerCertificate } from 'node:tls';

export interface ClientIdentity {
  /** True when the TLS layer verified a client certificate against the client CA. */
  readonly verified: boolean;
  /** `CN=…,O=…` of the verified certificate, for the audit record. */
  readonly subject: string | undefined;
}

const NO_CLIENT: ClientIdentity = { verified: false, subject: undefined };
// One TLS connection carries many reviews (keep-alive): compute the identity once per socket.
const bySocket = new WeakMap<object, ClientIdentity>();

/** The verified client certificate of the connection, if any (plain HTTP: none). */
export function clientIdentity(incoming: IncomingMessage): ClientIdentity {
  const socket = incoming.socket as TLSSocket;
  if (!socket || typeof socket.getPeerCertificate !== 'function') return NO_CLIENT;
  const known = bySocket.get(socket);
  if (known) return known;
  let identity = NO_CLIENT;
  if (socket.authorized) {
    const cert = socket.getPeerCertificate(false) as PeerCertificate | undefined;
    identity = { verified: true, subject: cert?.subject ? formatSubject(cert.subject) : undefined };
  }
  bySocket.set(socket, identity);
  return identity;
}

function formatSubject(subject: object): string {
  return Object.entries(subject as Record<string, string | string[] | undefined>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(',');
}
