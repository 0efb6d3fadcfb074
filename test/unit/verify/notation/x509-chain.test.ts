/** Certificate rules of x509-chain.ts on openssl-made certificates, including ones notation refuses to sign with. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { subjectFromDer } from '../../../../server/verify/notation/trusted-identities';
import { ChainError, certificatesFromBytes, checkChainStructure, checkValidityAt, findTrustAnchor, type ParsedCertificate } from '../../../../server/verify/notation/x509-chain';

const dir = mkdtempSync(join(tmpdir(), 'imagegate-x509-unit-'));
let n = 0;
const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

interface Made {
  readonly key: string;
  readonly cert: string;
  readonly parsed: ParsedCertificate;
}

function make(subject: string, ext: string, issuer?: Made, keySpec = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], days = '5'): Made {
  n += 1;
  const key = `k${n}.pem`;
  const cert = `c${n}.pem`;
  ossl(['genpkey', ...keySpec, '-out', key]);
  writeFileSync(join(dir, `e${n}.cnf`), `[req]\ndistinguished_name=dn\n[dn]\n[ext]\n${ext}\n`);
  if (!issuer) {
    ossl(['req', '-new', '-x509', '-key', key, '-subj', subject, '-days', days, '-out', cert, '-config', `e${n}.cnf`, '-extensions', 'ext']);
  } else {
    ossl(['req', '-new', '-key', key, '-subj', subject, '-out', `r${n}.csr`, '-config', `e${n}.cnf`]);
    ossl(['x509', '-req', '-in', `r${n}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', String(1000 + n), '-days', days, '-extfile', `e${n}.cnf`, '-extensions', 'ext', '-out', cert]);
  }
  return { key: join(dir, key), cert: join(dir, cert), parsed: certificatesFromBytes(readFileSync(join(dir, cert)))[0]! };
}

const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign';
const LEAF_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning';

describe('notation x509 chain rules', () => {
  const root = make('/C=US/ST=WA/O=Acme/CN=Root', CA_EXT);
  const leaf = make('/C=US/ST=WA/L=Seattle/O=Acme/CN=release', LEAF_EXT, root);

  it('accepts a conforming leaf → root chain anchored in the store', () => {
    checkChainStructure([leaf.parsed, root.parsed]);
    assert.ok(findTrustAnchor([leaf.parsed, root.parsed], [root.parsed]));
    assert.equal(findTrustAnchor([leaf.parsed, root.parsed], [make('/C=US/ST=WA/O=Acme/CN=Root', CA_EXT).parsed]), undefined);
  });

  it('reads the leaf subject attributes from DER', () => {
    assert.deepEqual([...subjectFromDer(leaf.parsed.subjectDer)], [['C', 'US'], ['ST', 'WA'], ['L', 'Seattle'], ['O', 'Acme'], ['CN', 'release']]);
  });

  it('refuses a chain that does not end in its self-signed root', () => {
    assert.throws(() => checkChainStructure([leaf.parsed]), ChainError);
  });

  it('refuses a link not issued by the next certificate', () => {
    const other = make('/C=US/ST=WA/O=Acme/CN=Root', CA_EXT);
    assert.throws(() => checkChainStructure([leaf.parsed, other.parsed]), /not issued by/);
  });

  it('refuses a leaf whose keyUsage is not critical, lacks digitalSignature, or has keyCertSign', () => {
    for (const ext of [
      'keyUsage=digitalSignature\nextendedKeyUsage=codeSigning',
      'keyUsage=critical,keyEncipherment',
      'keyUsage=critical,digitalSignature,keyCertSign',
      'extendedKeyUsage=codeSigning',
    ]) {
      const bad = make('/C=US/ST=WA/O=Acme/CN=bad', ext, root);
      assert.throws(() => checkChainStructure([bad.parsed, root.parsed]), ChainError, ext);
    }
  });

  it('refuses a leaf with a TLS or timestamping EKU', () => {
    for (const eku of ['serverAuth', 'clientAuth', 'timeStamping', 'emailProtection']) {
      const bad = make('/C=US/ST=WA/O=Acme/CN=bad', `keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning,${eku}`, root);
      assert.throws(() => checkChainStructure([bad.parsed, root.parsed]), /extended key usage/, eku);
    }
  });

  it('refuses a CA without critical basicConstraints cA=true or without keyCertSign', () => {
    for (const ext of ['keyUsage=critical,keyCertSign', 'basicConstraints=CA:TRUE\nkeyUsage=critical,keyCertSign', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,cRLSign']) {
      const ca = make('/C=US/ST=WA/O=Acme/CN=BadRoot', ext);
      const l = make('/C=US/ST=WA/O=Acme/CN=l', LEAF_EXT, ca);
      assert.throws(() => checkChainStructure([l.parsed, ca.parsed]), ChainError, ext);
    }
  });

  it('honours pathLen on an intermediate', () => {
    const r = make('/C=US/ST=WA/O=Acme/CN=R', 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign');
    const i = make('/C=US/ST=WA/O=Acme/CN=I', CA_EXT, r);
    const l = make('/C=US/ST=WA/O=Acme/CN=l', LEAF_EXT, i);
    assert.throws(() => checkChainStructure([l.parsed, i.parsed, r.parsed]), /path length/);
  });

  it('refuses RSA keys under 2048 bits', () => {
    const small = make('/C=US/ST=WA/O=Acme/CN=small', LEAF_EXT, root, ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']);
    assert.throws(() => checkChainStructure([small.parsed, root.parsed]), /at least 2048/);
  });

  it('checks validity at a given time', () => {
    checkValidityAt([leaf.parsed, root.parsed], new Date(), 'now');
    assert.throws(() => checkValidityAt([leaf.parsed, root.parsed], new Date(Date.now() + 30 * 86_400_000), 'later'), /not valid at later/);
  });
});
