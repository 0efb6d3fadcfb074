import type { IncomingMessage } from 'node:http';
import type { TLSSocket, PeerCertificate } from 'node:tls';

export interface ClientIdentity {
  /** True when the TLS layer verified a client certificate against the client CA. */
  readonly verified: boolean;
  /** `CN=…,O=…` of the verified certificate, for the audit record. */
  readonly subject: string | undefined;
  /** Why an unverified connection was not verified: no certificate, or the TLS error for one. */
  readonly presented: string | null;
}

const NO_CLIENT: ClientIdentity = { verified: false, subject: undefined, presented: null };
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
    identity = { verified: true, subject: cert?.subject ? formatSubject(cert.subject) : undefined, presented: null };
  } else {
    const cert = socket.getPeerCertificate(false) as PeerCertificate | undefined;
    const has = cert !== undefined && cert !== null && Object.keys(cert).length > 0;
    identity = {
      verified: false,
      subject: undefined,
      // The subject of an unverified certificate is attacker-chosen: only the TLS verdict is kept.
      presented: has ? `certificate not verified: ${String(socket.authorizationError ?? 'unknown error')}` : 'no certificate',
    };
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
