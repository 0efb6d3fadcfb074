/**
 * A real RFC 3161 time-stamping authority for the notation peer tests: OpenSSL's own TSA
 * (`openssl ts -reply`, OpenSSL 3) behind a tiny HTTP server on 127.0.0.1. The server pipes each
 * `application/timestamp-query` body into `openssl ts -reply -queryfile … -config …` and answers
 * the DER TimeStampResp as `application/timestamp-reply` (RFC 3161 §3.4, "Time-Stamp Protocol
 * via HTTP"), which is what `notation sign --timestamp-url` speaks.
 *
 * The TSA's certificates are made by openssl too: a root CA (basicConstraints critical CA:TRUE,
 * keyUsage critical keyCertSign) and a signing certificate with the one extended key usage RFC
 * 3161 §2.3 requires, timeStamping, marked critical (openssl refuses to sign with anything else).
 * Requests are answered one at a time: openssl rewrites its serial file on every reply.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../temp-dirs';
import { OPENSSL_BIN, requireNotation } from './notation-tool';

const execFileAsync = promisify(execFile);

/** RFC 3161 requests are ~60 bytes; 64 KiB bounds what the stub reads from a client. */
const MAX_QUERY_BYTES = 64 << 10;

export interface TsaOptions {
  /** Subject of the TSA root; distinct TSAs may share it (same name, other key). */
  readonly rootSubject?: string;
  /** openssl `accuracy` (e.g. `secs:1, millisecs:500`); omitted = no accuracy in TSTInfo. */
  readonly accuracy?: string;
  /** TSA policy OID; `0.4.0.2023.1.1` is the baseline policy of RFC 3628 (ETSI TS 102 023). */
  readonly policy?: string;
  /**
   * Hash of the signing-certificate attribute: `sha256` (default) gives ESSCertIDv2 (RFC 5816),
   * `sha1` the older ESSCertID (RFC 2634) that notation's tspclient-go refuses.
   */
  readonly essCertIdAlg?: 'sha1' | 'sha256';
  /** Root → intermediate CA → signer, the intermediate carried in every token (a path through the token's certificates). */
  readonly intermediate?: boolean;
}

export interface TsaPeer {
  /** `http://127.0.0.1:PORT/` for `notation sign --timestamp-url`. */
  readonly url: string;
  /** The TSA root certificate (PEM file), for `--timestamp-root-cert` and trust stores. */
  readonly rootCert: string;
  readonly rootPem: string;
  /** The TSA signing certificate (PEM). */
  readonly signerPem: string;
  /** Replies answered so far. */
  readonly replies: number;
  /** A TimeStampToken (DER) for `message`, requested with `openssl ts -query` and no HTTP (for frozen vectors). */
  stamp(message: Buffer, hash?: 'sha256' | 'sha384' | 'sha512'): Promise<Buffer>;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL_BIN, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a TSA with a fresh root and signing certificate (RSA 2048, SHA-256). */
export async function startTsa(options: TsaOptions = {}): Promise<TsaPeer> {
  requireNotation();
  const dir = tempDir('imagegate-tsa-');
  writeFileSync(
    join(dir, 'req.cnf'),
    [
      '[req]',
      'distinguished_name=dn',
      '[dn]',
      '[root]',
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      '[intermediate]',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '[signer]',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=critical,timeStamping',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'root.key'], dir);
  openssl(['req', '-new', '-x509', '-key', 'root.key', '-subj', options.rootSubject ?? '/C=US/O=Imagegate Test TSA/CN=Test TSA Root', '-days', '30', '-out', 'root.crt', '-config', 'req.cnf', '-extensions', 'root'], dir);
  let issuer = 'root';
  if (options.intermediate) {
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'intermediate.key'], dir);
    openssl(['req', '-new', '-key', 'intermediate.key', '-subj', '/C=US/O=Imagegate Test TSA/CN=Test TSA Intermediate CA', '-out', 'intermediate.csr', '-config', 'req.cnf'], dir);
    openssl(['x509', '-req', '-in', 'intermediate.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-days', '25', '-extfile', 'req.cnf', '-extensions', 'intermediate', '-out', 'intermediate.crt'], dir);
    issuer = 'intermediate';
  }
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'signer.key'], dir);
  openssl(['req', '-new', '-key', 'signer.key', '-subj', '/C=US/O=Imagegate Test TSA/CN=Test TSA Signer', '-out', 'signer.csr', '-config', 'req.cnf'], dir);
  openssl(['x509', '-req', '-in', 'signer.csr', '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '20', '-extfile', 'req.cnf', '-extensions', 'signer', '-out', 'signer.crt'], dir);
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(
    join(dir, 'tsa.cnf'),
    [
      '[tsa]',
      'default_tsa = imagegate',
      '[imagegate]',
      `dir = ${dir}`,
      'serial = $dir/serial',
      'crypto_device = builtin',
      'signer_cert = $dir/signer.crt',
      'signer_key = $dir/signer.key',
      ...(options.intermediate ? ['certs = $dir/intermediate.crt'] : []),
      'signer_digest = sha256',
      `default_policy = ${options.policy ?? '1.3.6.1.4.1.57264.99.1'}`,
      'other_policies = 1.3.6.1.4.1.57264.99.2',
      'digests = sha256, sha384, sha512',
      ...(options.accuracy ? [`accuracy = ${options.accuracy}`] : []),
      'ordering = no',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      `ess_cert_id_alg = ${options.essCertIdAlg ?? 'sha256'}`,
      '',
    ].join('\n'),
  );

  let replies = 0;
  let queue: Promise<unknown> = Promise.resolve();
  /** One openssl run at a time (it rewrites the serial file). */
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  };
  const reply = async (query: Buffer): Promise<Buffer> => {
    const n = replies + 1;
    writeFileSync(join(dir, `q${n}.tsq`), query);
    await execFileAsync(OPENSSL_BIN, ['ts', '-reply', '-queryfile', `q${n}.tsq`, '-config', 'tsa.cnf', '-section', 'imagegate', '-out', `r${n}.tsr`], { cwd: dir, timeout: 30_000 });
    replies = n;
    return readFileSync(join(dir, `r${n}.tsr`));
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_QUERY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query' || size > MAX_QUERY_BYTES) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('expected a POST of application/timestamp-query');
        return;
      }
      serially(() => reply(Buffer.concat(chunks))).then(
        (body) => {
          res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': String(body.length) });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    rootCert: join(dir, 'root.crt'),
    rootPem: readFileSync(join(dir, 'root.crt'), 'utf8'),
    signerPem: readFileSync(join(dir, 'signer.crt'), 'utf8'),
    get replies() {
      return replies;
    },
    stamp: (message: Buffer, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256') =>
      serially(async () => {
        const n = replies + 1;
        const digest = createHash(hash).update(message).digest('hex');
        await execFileAsync(OPENSSL_BIN, ['ts', '-query', '-digest', digest, `-${hash}`, '-cert', '-out', `stamp${n}.tsq`], { cwd: dir });
        writeFileSync(join(dir, `stamp${n}.tsr`), await reply(readFileSync(join(dir, `stamp${n}.tsq`))));
        await execFileAsync(OPENSSL_BIN, ['ts', '-reply', '-in', `stamp${n}.tsr`, '-token_out', '-out', `stamp${n}.tst`], { cwd: dir });
        return readFileSync(join(dir, `stamp${n}.tst`));
      }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
