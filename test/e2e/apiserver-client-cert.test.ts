/**
 * The variant of "a client without the apiserver's certificate is refused": here the client is the
 * apiserver itself, whose webhook kubeconf (the shipped one, rendered by scripts/gen-certs.sh)
 * points at a client certificate from another CA. imagegate refuses it with 403 before reading the
 * body, the apiserver treats that as a backend failure, and defaultAllow: false rejects the pod.
 * The apiserver reads the kubeconf once at start, so this needs its own apiserver.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminKubeconfig, E2eEnvironment, genCerts } from './helpers/environment';
import { describeResponse, podManifest } from './helpers/kube-client';
import { waitFor } from './helpers/processes';
import { imageReview, postReview } from '../helpers/http-client';
import { findKubectl } from './helpers/tools';

const execFileP = promisify(execFile);

const POLICY = `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io]
defaultAction: deny
rules:
  - name: e2e-allowed
    images: ["docker.io/e2e-allowed/**"]
    requireDigest: false
`;

describe('kube-apiserver presenting a client certificate imagegate does not trust', () => {
  let env: E2eEnvironment;

  before(async () => {
    env = await E2eEnvironment.start({
      name: 'wrong-cert',
      policy: POLICY,
      editKubeconf: async (text, { dir, certs }) => {
        // A complete, valid set from the same script, but from another CA.
        const rogue = await genCerts(join(dir, 'rogue'));
        const edited = text.replaceAll(certs.clientCert, rogue.clientCert).replaceAll(certs.clientKey, rogue.clientKey);
        assert.notEqual(edited, text, 'the rendered kubeconf names the client certificate files');
        return edited;
      },
    });
    await env.kube.ensureNamespace('e2e-wrong-cert');
  });

  after(async () => {
    await env?.teardown();
  });

  it('rejects even an allowed image (fail closed), and imagegate never reviews it', async (t) => {
    const image = 'docker.io/e2e-allowed/web:1.0';
    const res = await env.kube.createPod('e2e-wrong-cert', podManifest('wrong-cert-1', { images: [image] }));
    assert.equal(res.status, 403, describeResponse(res));
    assert.equal(res.body.kind, 'Status');
    assert.equal(res.body.reason, 'Forbidden');
    assert.equal(res.body.code, 403);
    // imagegate's 403 is not a decision, so the apiserver does not wrap it as "pods … is forbidden:
    // image policy webhook backend denied …": it passes the backend's Forbidden error through
    // unchanged (admission.NewForbidden does not wrap twice). Its message is the backend's body
    // only for a text/* or absent Content-Type; otherwise client-go says "unknown" (contract.md §5.4).
    assert.ok(!String(res.body.message).includes('denied one or more images'), res.body.message);
    const message = String(res.body.message);
    assert.ok(
      message === 'unknown' || /client certificate/i.test(message),
      `unexpected message: ${message}`,
    );
    t.diagnostic(`apiserver answered: ${res.text.replace(/\s+/g, ' ')}`);
    // The plugin logs the failure at -v=2 (admission.go webhookError).
    await waitFor(
      'kube-apiserver log line "error contacting webhook backend"',
      async () => (readFileSync(env.apiserver!.process.logFile, 'utf8').includes(`error contacting webhook backend: ${message}`) ? true : undefined),
      { timeoutMs: 5_000 },
    );

    // What a kubectl user sees (docs/imagereview-protocol.md), when a kubectl within skew exists.
    const kubectl = findKubectl(env.apiserver!.minor);
    if (kubectl) {
      const kubeconfig = join(env.dir, 'admin.kubeconfig');
      writeFileSync(kubeconfig, adminKubeconfig(env.apiserver!.url, env.apiserver!.token), { mode: 0o600 });
      const out = await execFileP(kubectl.path, ['--kubeconfig', kubeconfig, '--cache-dir', join(env.dir, 'kubectl-cache'), 'run', 'wrong-cert-2', `--image=${image.replace(':1.0', ':1.1')}`, '--restart=Never', '-n', 'e2e-wrong-cert'], {
        env: { ...process.env, KUBECONFIG: kubeconfig, HOME: env.dir },
        timeout: 60_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
      );
      assert.equal(out.code, 1);
      assert.equal(out.stderr, `Error from server (Forbidden): ${message}\n`);
      t.diagnostic(`kubectl run: ${out.stderr.trim()}`);
    }

    // A marker review with the right certificate: once its record is logged, a record for the
    // apiserver's requests (made before) would be too.
    const marker = 'docker.io/e2e-allowed/marker:1.0';
    const direct = await postReview(env.imagegate!.url, imageReview([marker], 'e2e-wrong-cert'), {
      ca: env.certs.caCert,
      cert: env.certs.clientCert,
      key: env.certs.clientKey,
    });
    assert.equal(direct.status, 200);
    await env.waitForDecision('e2e-wrong-cert', marker);
    assert.deepEqual(
      env.decisions().map((d) => d.images.map((i: { image: string }) => i.image)),
      [[marker]],
      'imagegate must not review a request from an untrusted client',
    );
  });
});
