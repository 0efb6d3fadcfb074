import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { ServerOptions as HttpsServerOptions, Server as HttpsServer } from 'node:https';

export interface TlsFiles {
  cert: string;
  key: string;
  /** Client CA: when set the TLS layer asks for a client certificate (interfaces.md "HTTP"). */
  clientCA: string | undefined;
}

/** Reads the files into secure-context options. Throws when a file is unreadable. */
export function readTlsMaterial(files: TlsFiles): SecureContextOptions {
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ...(files.clientCA ? { ca: readFileSync(files.clientCA) } : {}),
  };
}

/**
 * https server options. With a client CA the server *requests* a certificate but does not reject
 * the handshake without one (`rejectUnauthorized: false`): /healthz, /readyz and /metrics must
 * answer kubelet probes and Prometheus without one; the review paths check `socket.authorized`
 * themselves and refuse with 403 before reading the body (interfaces.md "HTTP").
 */
export function httpsServerOptions(files: TlsFiles): HttpsServerOptions {
  return {
    ...readTlsMaterial(files),
    requestCert: files.clientCA !== undefined,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    // The apiserver offers h2 and http/1.1 by ALPN and is happy with http/1.1 (contract.md §2).
    ALPNProtocols: ['http/1.1'],
  };
}

/**
 * Re-reads certificate, key and client CA when any of them changes (cert-manager and Secret
 * updates swap files under a symlinked directory, so the directories are watched) and installs
 * them with setSecureContext: new connections get the new material, open ones keep theirs.
 */
export function watchTlsFiles(
  server: HttpsServer,
  files: TlsFiles,
  onResult: (ok: boolean, error?: unknown) => void,
): () => void {
  const paths = [files.cert, files.key, ...(files.clientCA ? [files.clientCA] : [])];
  const dirs = [...new Set(paths.map((p) => dirname(p)))];
  const names = new Set(paths.map((p) => basename(p)));
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    timer = undefined;
    try {
      server.setSecureContext(readTlsMaterial(files));
      onResult(true);
    } catch (err) {
      onResult(false, err); // keep serving with the material already loaded
    }
  };
  const watchers: FSWatcher[] = dirs.map((d) =>
    watch(d, { persistent: false }, (_event, name) => {
      if (name && !names.has(name.toString()) && !name.toString().startsWith('..')) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(reload, 200);
    }),
  );
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
