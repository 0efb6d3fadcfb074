/**
 * The trust material of a notation verifier, loaded once per policy generation and checked the
 * way notation checks its trust stores and trust policy, so that `config validate` and the
 * verifier build report the same problems (every one of them, with the file and what is wrong):
 *
 *   - `trustStore` (a notation `ca` store): PEM or DER certificates, each a CA certificate
 *     (basicConstraints cA=true) or a self-signed certificate (notation-go `truststore`
 *     `ValidateCertificates`);
 *   - `tsaTrustStore` (a notation `tsa` store): root CA certificates only (notation-go
 *     `isRootCACertificate`; tsa-chain.ts);
 *   - `trustedIdentities`: `"*"` alone, or `x509.subject:` DNs parsed by the same RFC 4514 parser
 *     the verifier matches with (trusted-identities.ts).
 * Problems are errors; certificates outside their validity period now are warnings only: an
 * expired root still verifies signatures whose timestamp shows they were made in time (and with
 * `verificationLevel: permissive` or `audit`), so it is not a configuration error by itself.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ConfigIssue } from '../../errors';
import type { NotationVerifierConfig, PemSource } from '../../policy/compiled-policy';
import { IdentityError, parseTrustedIdentities, type TrustedIdentities } from './trusted-identities';
import { checkTsaTrustStoreCertificate } from './tsa-chain';
import { certificatesFromBytes, checkTrustStoreCertificate, describe, type ParsedCertificate } from './x509-chain';

/** A trust store file is a few root certificates; 1 MiB holds a whole public CA bundle and bounds a misconfigured path. */
export const TRUST_STORE_FILE_MAX_BYTES = 1 << 20;

export interface NotationMaterial {
  readonly trustStore: readonly ParsedCertificate[];
  /** Empty when `tsaTrustStore` is not configured. */
  readonly tsaStore: readonly ParsedCertificate[];
  readonly identities: TrustedIdentities;
}

export interface MaterialReport {
  /** Undefined when there is any error. */
  readonly material: NotationMaterial | undefined;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

type StoreKind = 'trustStore' | 'tsaTrustStore';

/** Loads and checks everything; never throws for bad material (it is reported). */
export function inspectNotationMaterial(name: string, config: NotationVerifierConfig, now: Date): MaterialReport {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const trustStore = loadStore(name, 'trustStore', config.trustStore, now, errors, warnings);
  const tsaStore = loadStore(name, 'tsaTrustStore', config.tsaTrustStore ?? [], now, errors, warnings);
  const identities = checkIdentities(name, config.trustedIdentities, errors);
  return { material: errors.length === 0 && identities ? { trustStore, tsaStore, identities } : undefined, errors, warnings };
}

function readSource(src: PemSource): Buffer {
  if (!('file' in src)) return Buffer.from(src.pem);
  const size = statSync(src.file).size;
  if (size > TRUST_STORE_FILE_MAX_BYTES) throw new Error(`it is ${size} bytes, at most ${TRUST_STORE_FILE_MAX_BYTES} are read`);
  return readFileSync(src.file);
}

function loadStore(name: string, kind: StoreKind, sources: readonly PemSource[], now: Date, errors: ConfigIssue[], warnings: ConfigIssue[]): ParsedCertificate[] {
  const out: ParsedCertificate[] = [];
  sources.forEach((src, i) => {
    const path = `verifiers.${name}.${kind}[${i}]${'file' in src ? '.file' : '.pem'}`;
    const what = 'file' in src ? src.file : 'the inline PEM';
    let bytes: Buffer;
    try {
      bytes = readSource(src);
    } catch (err) {
      errors.push({ path, message: `cannot read ${what}: ${(err as Error).message}` });
      return;
    }
    let certs: ParsedCertificate[];
    try {
      certs = certificatesFromBytes(bytes);
    } catch (err) {
      errors.push({ path, message: `${what} is not a PEM or DER certificate: ${(err as Error).message}` });
      return;
    }
    certs.forEach((c, k) => {
      const which = certs.length > 1 ? `${what} (certificate ${k + 1} of ${certs.length})` : what;
      try {
        if (kind === 'trustStore') checkTrustStoreCertificate(c);
        else checkTsaTrustStoreCertificate(c);
        out.push(c);
      } catch (err) {
        errors.push({ path, message: `${which} cannot be in ${kind}: ${(err as Error).message}` });
        return;
      }
      if (now > c.notAfter) {
        const effect = kind === 'trustStore' ? 'signatures chaining to it verify only with a trusted timestamp from before then (tsaTrustStore), or below strict' : 'only timestamps made before then verify';
        warnings.push({ path, message: `${which}: ${describe(c)} expired at ${c.notAfter.toISOString()}; ${effect}` });
      } else if (now < c.notBefore) {
        warnings.push({ path, message: `${which}: ${describe(c)} is not valid before ${c.notBefore.toISOString()}` });
      }
    });
  });
  return out;
}

function checkIdentities(name: string, list: readonly string[], errors: ConfigIssue[]): TrustedIdentities | undefined {
  const before = errors.length;
  if (list.includes('*') && list.length > 1) {
    errors.push({ path: `verifiers.${name}.trustedIdentities`, message: '"*" must be the only trusted identity when it is used' });
  }
  list.forEach((text, k) => {
    if (text === '*') return;
    try {
      parseTrustedIdentities([text]);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      errors.push({ path: `verifiers.${name}.trustedIdentities[${k}]`, message: err.message });
    }
  });
  return errors.length === before ? parseTrustedIdentities(list) : undefined;
}
