/**
 * The real notation CLI (notaryproject/notation v1, built from its Go module by
 * scripts/tools/build-notation.sh into `${IMAGEGATE_TOOLS_DIR:-$HOME/.cache/imagegate-tools}/bin`),
 * with openssl-made CAs and signing certificates. Every notation run gets its own
 * XDG_CONFIG_HOME (signing keys, trust store, trust policy), so nothing of the user's leaks in.
 * A missing binary fails the test with the build command; it never skips.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TOOLS_DIR } from '../cosign-tool';
import { requireBinary } from '../registry-peer';

const execFileAsync = promisify(execFile);

export const NOTATION_BIN = join(TOOLS_DIR, 'bin', 'notation');
export const OPENSSL_BIN = '/usr/bin/openssl';

export function requireNotation(): void {
  requireBinary(NOTATION_BIN, 'build it with scripts/tools/build-notation.sh (go install github.com/notaryproject/notation/cmd/notation, cached in the tools dir)');
  requireBinary(OPENSSL_BIN, 'apt-get install -y openssl');
}

/** `notation version` Version line, e.g. `v1.3.2`. */
export function notationVersion(): string {
  requireNotation();
  const out = execFileSync(NOTATION_BIN, ['version'], { encoding: 'utf8' });
  const m = /Version:\s*(\S+)/.exec(out);
  return m ? (m[1] as string) : 'unknown';
}

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL_BIN, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Ca {
  readonly dir: string;
  readonly key: string;
  readonly cert: string;
  readonly pem: string;
}

export interface SigningKey {
  readonly key: string;
  /** Leaf then CA (notation's certPath: the chain it puts in the envelope). */
  readonly chain: string;
  readonly leafPem: string;
}

/** `/C=US/ST=WA/O=Acme/CN=x` for openssl from an ordered list. */
function opensslSubject(parts: readonly [string, string][]): string {
  return parts.map(([k, v]) => `/${k}=${v}`).join('');
}

/** Certificate validity to the second (timestamps need a CA valid before genTime − accuracy; some leaves must expire while a test runs). */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** `YYYYMMDDHHMMSSZ`, the GeneralizedTime form `openssl ca -startdate/-enddate` takes. */
function opensslTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Issues `csr` with exactly `validity` through `openssl ca`, the only openssl 3.0 command that
 * takes notBefore/notAfter to the second; `issuer` undefined = self-signed with `key`.
 */
function issueWithValidity(dir: string, csr: string, key: string, issuer: string | undefined, validity: Validity, extfile: string, out: string): void {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'openssl-ca.cnf'),
    ['[ca]', 'default_ca = this', '[this]', `dir = ${dir}`, 'database = $dir/index.txt', 'serial = $dir/serial', 'new_certs_dir = $dir', 'default_md = sha256', 'policy = any', 'preserve = yes', 'unique_subject = no', '[any]', ...['countryName', 'stateOrProvinceName', 'localityName', 'organizationName', 'organizationalUnitName', 'commonName'].map((f) => `${f} = optional`), ''].join('\n'),
  );
  const who = issuer ? ['-cert', issuer] : ['-selfsign'];
  openssl(['ca', '-batch', '-notext', '-config', 'openssl-ca.cnf', ...who, '-keyfile', key, '-in', csr, '-startdate', opensslTime(validity.notBefore), '-enddate', opensslTime(validity.notAfter), '-extfile', extfile, '-out', out], dir);
}

/**
 * A root CA: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign, cRLSign. Valid
 * for 30 days from now, or exactly `validity`.
 */
export function makeCa(subject: readonly [string, string][], keyAlg: 'rsa' | 'ec' = 'rsa', validity?: Validity): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-notation-ca-'));
  genKey(dir, 'ca.key', keyAlg);
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  if (validity) {
    openssl(['req', '-new', '-key', 'ca.key', '-subj', opensslSubject(subject), '-out', 'ca.csr', '-config', writeReqConfig(dir)], dir);
    issueWithValidity(dir, 'ca.csr', 'ca.key', undefined, validity, 'ca.ext', 'ca.crt');
  } else {
    openssl(['req', '-new', '-x509', '-key', 'ca.key', '-subj', opensslSubject(subject), '-days', '30', '-out', 'ca.crt', '-extensions', 'v3_ca', '-config', writeReqConfig(dir)], dir);
  }
  const pem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  return { dir, key: join(dir, 'ca.key'), cert: join(dir, 'ca.crt'), pem };
}

function writeReqConfig(dir: string): string {
  const file = join(dir, 'req.cnf');
  writeFileSync(
    file,
    [
      '[req]',
      'distinguished_name=dn',
      '[dn]',
      '[v3_ca]',
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      '',
    ].join('\n'),
  );
  return file;
}

function genKey(dir: string, name: string, alg: 'rsa' | 'ec'): void {
  if (alg === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', name], dir);
  else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name], dir);
}

/**
 * A signing leaf under `ca`: keyUsage critical digitalSignature, EKU codeSigning, CA:FALSE.
 * Valid for 10 days from now, or exactly `validity`.
 */
export function makeLeaf(ca: Ca, subject: readonly [string, string][], keyAlg: 'rsa' | 'ec' = 'ec', validity?: Validity): SigningKey {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-notation-leaf-'));
  genKey(dir, 'leaf.key', keyAlg);
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nauthorityKeyIdentifier=keyid\n');
  openssl(['req', '-new', '-key', 'leaf.key', '-subj', opensslSubject(subject), '-out', 'leaf.csr', '-config', writeReqConfig(dir)], dir);
  if (validity) issueWithValidity(dir, 'leaf.csr', ca.key, ca.cert, validity, 'leaf.ext', 'leaf.crt');
  else openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '10', '-extfile', 'leaf.ext', '-out', 'leaf.crt'], dir);
  const leafPem = readFileSync(join(dir, 'leaf.crt'), 'utf8');
  writeFileSync(join(dir, 'chain.crt'), leafPem + ca.pem);
  return { key: join(dir, 'leaf.key'), chain: join(dir, 'chain.crt'), leafPem };
}

/**
 * A self-signed signing certificate (RSA 2048 → PS256), like `notation cert generate-test` makes:
 * keyUsage critical digitalSignature, EKU codeSigning; it is its own trust anchor.
 */
export function makeSelfSigned(subject: readonly [string, string][]): SigningKey & { readonly pem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-notation-self-'));
  genKey(dir, 'self.key', 'rsa');
  writeFileSync(join(dir, 'self.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
  openssl(['req', '-new', '-x509', '-key', 'self.key', '-subj', opensslSubject(subject), '-days', '10', '-out', 'self.crt', '-config', 'self.cnf', '-extensions', 'ext'], dir);
  const pem = readFileSync(join(dir, 'self.crt'), 'utf8');
  return { key: join(dir, 'self.key'), chain: join(dir, 'self.crt'), leafPem: pem, pem };
}

/** A fresh notation config home whose default signing key is `key`. */
function signingHome(key: SigningKey): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'imagegate-notation-home-'));
  const cfg = join(home, 'config', 'notation');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, 'signingkeys.json'), JSON.stringify({ default: 'k', keys: [{ name: 'k', keyPath: key.key, certPath: key.chain }] }));
  return env(home);
}

function env(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache') };
}

export interface SignOptions {
  readonly format?: 'jws' | 'cose';
  /** e.g. `1s` (notation sign --expiry). */
  readonly expiry?: string;
  /** RFC 3161 countersignature: `--timestamp-url` and the TSA root `--timestamp-root-cert`. */
  readonly timestamp?: { readonly url: string; readonly rootCert: string };
}

/** `notation sign --insecure-registry --signature-format … <host/repo@digest>`. */
export async function notationSign(key: SigningKey, ref: string, options: SignOptions = {}): Promise<void> {
  requireNotation();
  const args = ['sign', '--insecure-registry', '--signature-format', options.format ?? 'jws'];
  if (options.expiry) args.push('--expiry', options.expiry);
  if (options.timestamp) args.push('--timestamp-url', options.timestamp.url, '--timestamp-root-cert', options.timestamp.rootCert);
  args.push(ref);
  try {
    await execFileAsync(NOTATION_BIN, args, { env: signingHome(key), timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`notation ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

export interface TrustPolicySpec {
  /** PEM texts of the trust store (one named store `ca:imagegate`). */
  readonly trustStore: readonly string[];
  readonly trustedIdentities: readonly string[];
  readonly level?: 'strict' | 'permissive' | 'audit';
  /** PEM texts of a TSA trust store (named store `tsa:imagegate`); absent = no `tsa:` store. */
  readonly tsaStore?: readonly string[];
  /** signatureVerification.verifyTimestamp (notation's default is `always`). */
  readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly output: string;
}

/** `notation verify --insecure-registry <ref>` with an equivalent trust policy (global scope) and trust store. */
export async function notationVerify(ref: string, spec: TrustPolicySpec): Promise<VerifyResult> {
  requireNotation();
  const home = mkdtempSync(join(tmpdir(), 'imagegate-notation-verify-'));
  const cfg = join(home, 'config', 'notation');
  const store = join(cfg, 'truststore', 'x509', 'ca', 'imagegate');
  mkdirSync(store, { recursive: true });
  spec.trustStore.forEach((pem, i) => writeFileSync(join(store, `cert-${i}.pem`), pem));
  const trustStores = ['ca:imagegate'];
  if (spec.tsaStore) {
    const tsa = join(cfg, 'truststore', 'x509', 'tsa', 'imagegate');
    mkdirSync(tsa, { recursive: true });
    spec.tsaStore.forEach((pem, i) => writeFileSync(join(tsa, `tsa-${i}.pem`), pem));
    trustStores.push('tsa:imagegate');
  }
  const signatureVerification: Record<string, string> = { level: spec.level ?? 'strict' };
  if (spec.verifyTimestamp) signatureVerification['verifyTimestamp'] = spec.verifyTimestamp;
  const policy = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'imagegate',
        registryScopes: ['*'],
        signatureVerification,
        trustStores,
        trustedIdentities: spec.trustedIdentities,
      },
    ],
  };
  // notation v1.3 reads trustpolicy.json (the OCI trust policy under its original name).
  writeFileSync(join(cfg, 'trustpolicy.json'), JSON.stringify(policy));
  try {
    const r = await execFileAsync(NOTATION_BIN, ['verify', '--verbose', '--insecure-registry', ref], { env: env(home), encoding: 'utf8', timeout: 60_000 });
    return { ok: true, output: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    if (typeof e.code !== 'number') throw err; // could not run at all: not a verdict
    const output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    // A refusal for a setup reason is not a verdict on the signature.
    if (/trust policy is not present|trust store .* does not exist|invalid trust policy/i.test(output)) {
      throw new Error(`notation verify could not evaluate ${ref}: ${output}`);
    }
    return { ok: false, output };
  }
}

/**
 * A signing key and self-signed certificate made by the real `notation cert generate-test NAME`
 * (what the Notary Project quick start and most users try first), in a throwaway config home:
 * `$XDG_CONFIG_HOME/notation/localkeys/NAME.{key,crt}`.
 */
export async function notationGenerateTest(name: string): Promise<SigningKey & { readonly pem: string }> {
  requireNotation();
  const home = mkdtempSync(join(tmpdir(), 'imagegate-notation-gen-'));
  try {
    await execFileAsync(NOTATION_BIN, ['cert', 'generate-test', name], { env: env(home), timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`notation cert generate-test ${name} failed: ${e.stderr ?? e.message}`);
  }
  const dir = join(home, 'config', 'notation', 'localkeys');
  const pem = readFileSync(join(dir, `${name}.crt`), 'utf8');
  return { key: join(dir, `${name}.key`), chain: join(dir, `${name}.crt`), leafPem: pem, pem };
}
