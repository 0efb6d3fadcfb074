/**
 * imagegate behind a real kube-apiserver (v1.33, built by scripts/tools/build-kube.sh): every
 * assertion goes through the apiserver's REST API (or kubectl), exactly as a cluster user meets it.
 *
 * One etcd + kube-apiserver + imagegate for the whole file. The apiserver runs with the shipped
 * admission_config.yaml (allowTTL 50, denyTTL 50, retryBackoff 500, defaultAllow false) and the
 * shipped kubeconf, both rendered by scripts/gen-certs.sh. Because the apiserver caches each answer
 * for 50 s keyed by (images, forwarded annotations, namespace) (contract.md §6), every test uses
 * its own images and namespaces; only the caching test reuses a key, on purpose.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { imageReview, postReview, send } from '../helpers/http-client';
import { adminKubeconfig, E2eEnvironment, genCerts } from './helpers/environment';
import { describeResponse, podManifest, type KubeResponse } from './helpers/kube-client';
import { waitFor } from './helpers/processes';
import { startRecorder } from './helpers/recorder';
import { findKubectl, REPO } from './helpers/tools';

const execFileP = promisify(execFile);

const DENY_PREFIX = 'image policy webhook backend denied one or more images: ';

/** The test policy; `flipped` swaps the two cache-test rules (flip-a allow → deny, flip-b deny → allow). */
function policy(flipped = false): string {
  return `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io, ghcr.io, localhost]
defaultAction: deny
breakGlass:
  enabled: true
  namespaces: ["e2e-break-glass"]
rules:
  # The image manifests/deployment.yaml runs, as the shipped configmap.yaml allows it.
  - name: imagegate-self
    images: ["localhost/imagegate"]
    namespaces: ["imagegate"]
    requireDigest: false
  - name: e2e-denied
    images: ["docker.io/e2e-denied/**"]
    action: deny
  - name: flip-a
    images: ["docker.io/e2e-flip/a"]
    action: ${flipped ? 'deny' : 'allow'}
    requireDigest: false
  - name: flip-b
    images: ["docker.io/e2e-flip/b"]
    action: ${flipped ? 'allow' : 'deny'}
    requireDigest: false
  - name: e2e-allowed
    images: ["docker.io/e2e-allowed/**", "ghcr.io/e2e-allowed/**"]
    requireDigest: false
`;
}

const NAMESPACES = [
  'e2e-basic',
  'e2e-init',
  'e2e-ephemeral',
  'e2e-break-glass',
  'e2e-no-break-glass',
  'e2e-cache',
  'e2e-cache-other',
  'e2e-outage',
  'e2e-recorded',
  'e2e-kubectl',
];

function assertForbidden(res: KubeResponse, podName: string | undefined): void {
  assert.equal(res.status, 403, describeResponse(res));
  assert.equal(res.body?.kind, 'Status');
  assert.equal(res.body?.status, 'Failure');
  assert.equal(res.body?.reason, 'Forbidden');
  assert.equal(res.body?.code, 403);
  if (podName !== undefined) assert.deepEqual(res.body?.details, { name: podName, kind: 'pods' });
}

describe('kube-apiserver with ImagePolicyWebhook → imagegate (REST API)', () => {
  let env: E2eEnvironment;

  before(async () => {
    env = await E2eEnvironment.start({ name: 'main', policy: policy(), audit: true });
    await Promise.all(NAMESPACES.map((ns) => env.kube.ensureNamespace(ns)));
  });

  after(async () => {
    await env?.teardown();
  });

  it('runs the kube-apiserver version build-kube.sh pins, with the shipped CKS-lab admission values', () => {
    // The version scripts/tools/build-kube.sh pins (IMAGEGATE_KUBE_VERSION overrides it there too).
    const pinned =
      process.env.IMAGEGATE_KUBE_VERSION ||
      /KUBE_VERSION="\$\{IMAGEGATE_KUBE_VERSION:-(v[0-9.]+)\}"/.exec(readFileSync(join(REPO, 'scripts', 'tools', 'build-kube.sh'), 'utf8'))?.[1];
    assert.equal(env.apiserver!.gitVersion, pinned, 'the kube-apiserver in the tool cache is not the pinned one: run scripts/tools/build-kube.sh');
    const cfg = readFileSync(env.certs.admissionConfig, 'utf8');
    for (const line of ['allowTTL: 50', 'denyTTL: 50', 'retryBackoff: 500', 'defaultAllow: false', `kubeConfigFile: ${env.certs.kubeconf}`]) {
      assert.ok(cfg.includes(line), `rendered admission_config.yaml lacks "${line}"`);
    }
    assert.ok(readFileSync(env.certs.kubeconf, 'utf8').includes(`server: ${env.webhookUrl}`));
  });

  it('admits a pod whose image imagegate allows: 201', async () => {
    const image = 'docker.io/e2e-allowed/web:1.0';
    const res = await env.kube.createPod('e2e-basic', podManifest('allowed-1', { images: [image] }));
    assert.equal(res.status, 201, describeResponse(res));
    assert.equal(res.body.kind, 'Pod');
    assert.equal(res.body.spec.containers[0].image, image);
    const d = await env.waitForDecision('e2e-basic', image);
    assert.equal(d.allowed, true);
    // imagegate saw the apiserver's client certificate from gen-certs.sh (mTLS).
    assert.equal(d.client, 'CN=kube-apiserver-imagepolicy');
    assert.equal(d.images[0].rule, 'e2e-allowed');
  });

  it('rejects a denied image: 403 whose message is the apiserver prefix + imagegate\'s reason', async () => {
    const image = 'docker.io/e2e-denied/app:1.0';
    const res = await env.kube.createPod('e2e-basic', podManifest('denied-1', { images: [image] }));
    assertForbidden(res, 'denied-1');
    const d = await env.waitForDecision('e2e-basic', image);
    assert.equal(d.allowed, false);
    assert.match(d.reason, /denied by rule "e2e-denied"/);
    assert.equal(res.body.message, `pods "denied-1" is forbidden: ${DENY_PREFIX}${d.reason}`);
    // Nothing was stored.
    assert.equal((await env.kube.call('GET', '/api/v1/namespaces/e2e-basic/pods/denied-1')).status, 404);
  });

  it('reviews a server-side dry run (?dryRun=All) too', async () => {
    const denied = await env.kube.createPod('e2e-basic', podManifest('dry-denied', { images: ['docker.io/e2e-denied/dry:1.0'] }), '?dryRun=All');
    assertForbidden(denied, 'dry-denied');
    assert.ok(denied.body.message.includes('denied by rule "e2e-denied"'), denied.body.message);
    const allowed = await env.kube.createPod('e2e-basic', podManifest('dry-allowed', { images: ['docker.io/e2e-allowed/dry:1.0'] }), '?dryRun=All');
    assert.equal(allowed.status, 201, describeResponse(allowed));
    await env.waitForDecision('e2e-basic', 'docker.io/e2e-allowed/dry:1.0');
    assert.equal((await env.kube.call('GET', '/api/v1/namespaces/e2e-basic/pods/dry-allowed')).status, 404);
  });

  it('checks init containers: an allowed main container does not carry a denied init container', async () => {
    const main = 'docker.io/e2e-allowed/app:2.0';
    const init = 'docker.io/e2e-denied/init:2.0';
    const res = await env.kube.createPod('e2e-init', podManifest('init-denied', { images: [main], initImages: [init] }));
    assertForbidden(res, 'init-denied');
    assert.ok(res.body.message.startsWith(`pods "init-denied" is forbidden: ${DENY_PREFIX}`), res.body.message);
    assert.ok(res.body.message.includes(`${init} denied by rule "e2e-denied"`), res.body.message);
    const d = await env.waitForDecision('e2e-init', init);
    // The apiserver sends spec.containers first, then spec.initContainers (admission.go).
    assert.deepEqual(d.images.map((i: { image: string }) => i.image), [main, init]);

    const ok = await env.kube.createPod('e2e-init', podManifest('init-allowed', { images: [main], initImages: ['docker.io/e2e-allowed/init:2.0'] }));
    assert.equal(ok.status, 201, describeResponse(ok));
  });

  it('checks ephemeral containers (pods/ephemeralcontainers, what kubectl debug uses): denied → 403, allowed → 200', async () => {
    const ns = 'e2e-ephemeral';
    const target = await env.kube.createPod(ns, podManifest('target', { images: ['docker.io/e2e-allowed/target:3.0'] }));
    assert.equal(target.status, 201, describeResponse(target));
    const path = `/api/v1/namespaces/${ns}/pods/target/ephemeralcontainers`;
    const ephemeral = (name: string, image: string) => ({ name, image, stdin: true, tty: true, targetContainerName: 'c0' });

    // PATCH (strategic merge, as kubectl debug sends it) with a denied image.
    const deniedImage = 'docker.io/e2e-denied/debug:3.0';
    const patched = await env.kube.call('PATCH', path, { spec: { ephemeralContainers: [ephemeral('debugger', deniedImage)] } }, 'application/strategic-merge-patch+json');
    assertForbidden(patched, 'target');
    assert.ok(patched.body.message.includes(`${deniedImage} denied by rule "e2e-denied"`), patched.body.message);
    const d = await env.waitForDecision(ns, deniedImage);
    // Only the ephemeral containers are reviewed on this subresource, not the pod's own.
    assert.deepEqual(d.images.map((i: { image: string }) => i.image), [deniedImage]);

    // PUT of the whole Pod on the subresource with another denied image.
    const pod = (await env.kube.call('GET', `/api/v1/namespaces/${ns}/pods/target`)).body;
    pod.spec.ephemeralContainers = [ephemeral('debugger', 'docker.io/e2e-denied/debug:3.1')];
    const put = await env.kube.call('PUT', path, pod);
    assertForbidden(put, 'target');
    assert.ok(put.body.message.includes('docker.io/e2e-denied/debug:3.1 denied by rule "e2e-denied"'), put.body.message);

    // An allowed image is added.
    const allowedImage = 'docker.io/e2e-allowed/debug:3.0';
    const ok = await env.kube.call('PATCH', path, { spec: { ephemeralContainers: [ephemeral('debugger', allowedImage)] } }, 'application/strategic-merge-patch+json');
    assert.equal(ok.status, 200, describeResponse(ok));
    assert.deepEqual(ok.body.spec.ephemeralContainers.map((c: { image: string }) => c.image), [allowedImage]);
    const d2 = await env.waitForDecision(ns, allowedImage);
    assert.deepEqual(d2.images.map((i: { image: string }) => i.image), [allowedImage]);
  });

  it('honours break-glass: the annotation reaches imagegate, the pod is admitted, and the apiserver audits it', async () => {
    const image = 'docker.io/e2e-denied/hotfix:4.0';
    const annotations = {
      // Forwarded: the key contains ".image-policy.k8s.io/" (admission.go filters on that).
      'imagegate.image-policy.k8s.io/break-glass': 'INC-1',
      // Not forwarded.
      'team.example.com/owner': 'sre',
    };
    const res = await env.kube.createPod('e2e-break-glass', podManifest('emergency', { images: [image], annotations }));
    assert.equal(res.status, 201, describeResponse(res));

    const d = await env.waitForDecision('e2e-break-glass', image);
    assert.equal(d.allowed, true);
    assert.equal(d.breakGlass, 'INC-1');
    assert.equal(d.images[0].verdict, 'break-glass');
    assert.equal(d.images[0].rule, 'e2e-denied');

    // status.auditAnnotations came back through the apiserver, prefixed with
    // "imagepolicywebhook.image-policy.k8s.io/", onto the request's audit event (contract.md §9).
    const event = await waitFor(
      'the audit event of the break-glass create',
      async () =>
        env
          .auditEvents()
          .find(
            (e) =>
              e.stage === 'ResponseComplete' &&
              e.verb === 'create' &&
              e.objectRef?.resource === 'pods' &&
              e.objectRef?.namespace === 'e2e-break-glass' &&
              e.objectRef?.name === 'emergency',
          ),
      { timeoutMs: 5_000 },
    );
    const ann = event.annotations ?? {};
    assert.equal(ann['imagepolicywebhook.image-policy.k8s.io/break-glass'], 'INC-1', JSON.stringify(ann));
    assert.match(ann['imagepolicywebhook.image-policy.k8s.io/break-glass-override-0'] ?? '', /e2e-denied\/hotfix:4\.0/);
    assert.equal(ann['imagepolicywebhook.image-policy.k8s.io/audit-required'], 'true');
    assert.equal(event.responseStatus?.code, 201);

    // The same pod in a namespace break-glass is not enabled for is denied.
    const elsewhere = await env.kube.createPod('e2e-no-break-glass', podManifest('emergency', { images: [image], annotations }));
    assertForbidden(elsewhere, 'emergency');
    assert.ok(elsewhere.body.message.includes(`${image} denied by rule "e2e-denied"`), elsewhere.body.message);
  });

  it('respects the apiserver\'s own cache: within allowTTL/denyTTL (50 s) a flipped policy is not asked', async () => {
    const ns = 'e2e-cache';
    const a = 'docker.io/e2e-flip/a:5.0';
    const b = 'docker.io/e2e-flip/b:5.0';
    const a1 = await env.kube.createPod(ns, podManifest('cache-a-1', { images: [a] }));
    assert.equal(a1.status, 201, describeResponse(a1));
    const b1 = await env.kube.createPod(ns, podManifest('cache-b-1', { images: [b] }));
    assertForbidden(b1, 'cache-b-1');
    const oldReason = (await env.waitForDecision(ns, b)).reason as string;

    await env.replacePolicy(policy(true));
    // imagegate itself answers with the new policy at once ...
    const beforeDirect = env.decisions().length;
    const tls = { ca: env.certs.caCert, cert: env.certs.clientCert, key: env.certs.clientKey };
    const directA = await postReview(env.imagegate!.url, imageReview([a], ns), tls);
    assert.equal(directA.json().status.allowed, false);
    const directB = await postReview(env.imagegate!.url, imageReview([b], ns), tls);
    assert.equal(directB.json().status.allowed, true);
    // (their decision records reach the log pipe a moment after the answers)
    await waitFor('the direct decisions in the log', async () => (env.decisions().length >= beforeDirect + 2 ? true : undefined), { timeoutMs: 5_000 });

    // ... but the apiserver caches each answer by the JSON of the review's spec (images,
    // forwarded annotations, namespace) for allowTTL (allowed) or denyTTL (denied) — 50 s each in
    // the shipped admission_config.yaml — and does not call imagegate for the same key meanwhile.
    // So the same images in the same namespace keep the old decisions (admission.go, contract §6):
    // a policy change takes up to 50 s to reach pods whose exact review was answered recently.
    const seen = env.decisions().length;
    const a2 = await env.kube.createPod(ns, podManifest('cache-a-2', { images: [a] }));
    assert.equal(a2.status, 201, `cached allow expected: ${describeResponse(a2)}`);
    const b2 = await env.kube.createPod(ns, podManifest('cache-b-2', { images: [b] }));
    assertForbidden(b2, 'cache-b-2');
    assert.equal(b2.body.message, `pods "cache-b-2" is forbidden: ${DENY_PREFIX}${oldReason}`);
    // Records are logged in order: once a later marker review is in the log, anything the
    // apiserver asked before it would be too.
    await postReview(env.imagegate!.url, imageReview(['docker.io/e2e-allowed/marker:5.0'], ns), tls);
    await env.waitForDecision(ns, 'docker.io/e2e-allowed/marker:5.0');
    const asked = env.decisions().slice(seen);
    assert.equal(asked.length, 1, `imagegate must not have been asked for the cached reviews: ${JSON.stringify(asked.slice(0, -1))}`);

    // The namespace is part of the key: elsewhere the new policy answers.
    const a3 = await env.kube.createPod('e2e-cache-other', podManifest('cache-a-3', { images: [a] }));
    assertForbidden(a3, 'cache-a-3');
    assert.ok(a3.body.message.includes('denied by rule "flip-a"'), a3.body.message);
    const b3 = await env.kube.createPod('e2e-cache-other', podManifest('cache-b-3', { images: [b] }));
    assert.equal(b3.status, 201, describeResponse(b3));
  });

  it('fails closed while imagegate is down (defaultAllow: false) and admits again once it is back on the same port', async (t) => {
    const ns = 'e2e-outage';
    await env.stopImagegate();
    const started = Date.now();
    const down = await env.kube.createPod(ns, podManifest('down-1', { images: ['docker.io/e2e-allowed/outage:6.0'] }));
    assertForbidden(down, 'down-1');
    const port = env.imagegatePort;
    assert.equal(
      down.body.message,
      `pods "down-1" is forbidden: Post "https://127.0.0.1:${port}/image_policy?timeout=30s": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
    // "connection refused" is not retried (webhook.go DefaultShouldRetry): no 500 ms backoff steps,
    // the answer comes at once (about 20 ms here; the bound only catches a hang).
    const tookMs = Date.now() - started;
    t.diagnostic(`rejected while imagegate was down in ${tookMs} ms`);
    assert.ok(tookMs < 5_000, `took ${tookMs} ms`);

    await env.startImagegate();
    // A failure is never cached, but use fresh images anyway.
    const up = await env.kube.createPod(ns, podManifest('up-1', { images: ['docker.io/e2e-allowed/outage:6.1'] }));
    assert.equal(up.status, 201, describeResponse(up));
    await env.waitForDecision(ns, 'docker.io/e2e-allowed/outage:6.1');
    const denied = await env.kube.createPod(ns, podManifest('up-2', { images: ['docker.io/e2e-denied/outage:6.1'] }));
    assertForbidden(denied, 'up-2');
    assert.ok(denied.body.message.includes('denied by rule "e2e-denied"'), denied.body.message);
  });

  it('records the exact ImageReview the apiserver sends (test/vectors/imagereview/captured-*.json)', async (t) => {
    const ns = 'e2e-recorded';
    await env.stopImagegate();
    const recorder = await startRecorder({
      host: '127.0.0.1',
      port: env.imagegatePort,
      cert: env.certs.serverCert,
      key: env.certs.serverKey,
      clientCA: env.certs.caCert,
      answer: () => ({ allowed: true }),
    });
    try {
      const digest = `sha256:${'a'.repeat(64)}`;
      const pod = podManifest('recorded', {
        images: ['nginx:1.27', `ghcr.io/e2e-allowed/api@${digest}`],
        initImages: ['busybox:1.36'],
        annotations: {
          'imagegate.image-policy.k8s.io/ticket': 'CHG-7 <ops & dev>',
          'image-policy.k8s.io/no-leading-dot': 'dropped',
          'team.example.com/owner': 'dropped',
        },
        labels: { app: 'recorded' },
      });
      const created = await env.kube.createPod(ns, pod);
      assert.equal(created.status, 201, describeResponse(created));
      const patched = await env.kube.call(
        'PATCH',
        `/api/v1/namespaces/${ns}/pods/recorded/ephemeralcontainers`,
        { spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.37', stdin: true, tty: true }] } },
        'application/strategic-merge-patch+json',
      );
      assert.equal(patched.status, 200, describeResponse(patched));
      assert.equal(recorder.requests.length, 2, 'one review per admission call');
      const [create, eph] = recorder.requests as [typeof recorder.requests[0], typeof recorder.requests[0]];

      // The HTTP request (contract.md §2, §12).
      assert.equal(create.method, 'POST');
      assert.equal(create.url, '/image_policy?timeout=30s');
      assert.equal(create.httpVersion, '1.1');
      assert.equal(create.headers['content-type'], 'application/json');
      assert.equal(create.headers.accept, 'application/json, */*');
      assert.match(String(create.headers['user-agent']), /^Go-http-client\//);
      assert.equal(create.headers.authorization, undefined);
      assert.equal(create.authorized, true);
      assert.equal(create.clientCN, 'kube-apiserver-imagepolicy');
      assert.deepEqual(
        create.rawHeaders.filter((_, i) => i % 2 === 0),
        ['Host', 'User-Agent', 'Content-Length', 'Accept', 'Content-Type', 'Accept-Encoding'],
      );
      assert.equal(create.servername, false, 'no SNI for an IP address');
      assert.deepEqual(create.alpnOffered, ['h2', 'http/1.1']);
      assert.equal(create.alpnNegotiated, 'http/1.1');
      t.diagnostic(`request: ${create.method} ${create.url} HTTP/${create.httpVersion}; headers ${JSON.stringify(create.rawHeaders)}; ALPN offered ${create.alpnOffered.join(',')}; SNI ${String(create.servername)}`);

      // The body (contract.md §3): kind before apiVersion, creationTimestamp null on 1.33,
      // containers then init containers, only ".image-policy.k8s.io/" annotations, Go's
      // HTML-escaping of & < >, status present, a trailing newline.
      const text = create.body.toString('utf8');
      assert.ok(text.endsWith('}\n'), JSON.stringify(text.slice(-5)));
      const body = JSON.parse(text);
      assert.deepEqual(Object.keys(body), ['kind', 'apiVersion', 'metadata', 'spec', 'status']);
      assert.deepEqual(body.spec, {
        containers: [{ image: 'nginx:1.27' }, { image: `ghcr.io/e2e-allowed/api@${digest}` }, { image: 'busybox:1.36' }],
        annotations: { 'imagegate.image-policy.k8s.io/ticket': 'CHG-7 <ops & dev>' },
        namespace: ns,
      });
      assert.ok(text.includes('"CHG-7 \\u003cops \\u0026 dev\\u003e"'), text);
      assert.deepEqual(body.status, { allowed: false });
      const ephBody = JSON.parse(eph.body.toString('utf8'));
      assert.deepEqual(ephBody.spec.containers, [{ image: 'busybox:1.37' }]);
      assert.deepEqual(ephBody.spec.annotations, { 'imagegate.image-policy.k8s.io/ticket': 'CHG-7 <ops & dev>' });

      // Byte for byte against the committed vectors (written once when missing, or with
      // IMAGEGATE_UPDATE_VECTORS=1).
      const version = env.apiserver!.gitVersion;
      for (const [file, bytes] of [
        [`captured-${version}.json`, create.body],
        [`captured-${version}-ephemeral.json`, eph.body],
      ] as const) {
        const p = join(REPO, 'test', 'vectors', 'imagereview', file);
        if (!existsSync(p) || process.env.IMAGEGATE_UPDATE_VECTORS === '1') {
          writeFileSync(p, bytes);
          t.diagnostic(`wrote ${p}`);
        }
        assert.equal(readFileSync(p).toString('utf8'), bytes.toString('utf8'), `${file} differs from what the apiserver sent`);
      }
    } finally {
      await recorder.close();
      await env.startImagegate();
    }
    // imagegate decodes what the apiserver really sends (it is back on the same port).
    const back = await env.kube.createPod(ns, podManifest('after-recording', { images: ['docker.io/e2e-allowed/recorded:7.0'] }));
    assert.equal(back.status, 201, describeResponse(back));
  });

  it('refuses a client without the apiserver\'s certificate (direct HTTPS to imagegate → 403)', async () => {
    const url = env.imagegate!.url;
    const review = imageReview(['docker.io/e2e-allowed/direct:8.0'], 'e2e-basic');
    const noCert = await postReview(url, review, { ca: env.certs.caCert });
    assert.equal(noCert.status, 403, noCert.body);
    const rogue = await genCerts(join(env.dir, 'rogue-direct'));
    const wrongCert = await postReview(url, review, { ca: env.certs.caCert, cert: rogue.clientCert, key: rogue.clientKey });
    assert.equal(wrongCert.status, 403, wrongCert.body);
    const apiserverCert = await postReview(url, review, { ca: env.certs.caCert, cert: env.certs.clientCert, key: env.certs.clientKey });
    assert.equal(apiserverCert.status, 200, apiserverCert.body);
    assert.equal(apiserverCert.json().status.allowed, true);
    // Probes still answer without a certificate (the Deployment's kubelet probes).
    const health = await send(url, { path: '/healthz', tls: { ca: env.certs.caCert } });
    assert.equal(health.status, 200);
  });

  describe('kubectl', () => {
    let kubectl: ReturnType<typeof findKubectl>;
    let kubeconfig = '';
    const run = async (args: string[]) => {
      try {
        const r = await execFileP(kubectl!.path, ['--kubeconfig', kubeconfig, '--cache-dir', join(env.dir, 'kubectl-cache'), ...args], {
          cwd: REPO,
          env: { ...process.env, KUBECONFIG: kubeconfig, HOME: env.dir },
          timeout: 60_000,
        });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
      }
    };

    before(() => {
      kubectl = findKubectl(env.apiserver!.minor);
      kubeconfig = join(env.dir, 'admin.kubeconfig');
      writeFileSync(kubeconfig, adminKubeconfig(env.apiserver!.url, env.apiserver!.token), { mode: 0o600 });
    });

    it('applies manifests/ with --dry-run=server: every object is accepted', async (t) => {
      if (!kubectl) {
        // No kubectl within ±1 minor of the apiserver: the same check through REST (?dryRun=All).
        t.diagnostic('no kubectl within skew found; dry-run through the REST API instead');
        await restDryRun(env);
        await podTemplateDryRun(env);
        return;
      }
      t.diagnostic(`kubectl ${kubectl.version} at ${kubectl.path}`);
      // A dry-run Namespace is not stored, so the namespaced objects need the real one first
      // (manifests/README.md "Checking them against an apiserver").
      const ns = await run(['apply', '-f', 'manifests/namespace.yaml']);
      assert.equal(ns.code, 0, ns.stderr);
      assert.match(ns.stdout, /^namespace\/imagegate (created|unchanged|configured)$/m);

      const objects = [
        'namespace/imagegate',
        'configmap/imagegate-policy',
        'service/imagegate',
        'deployment.apps/imagegate',
        'poddisruptionbudget.policy/imagegate',
      ];
      const accepted = (stdout: string, obj: string) =>
        new RegExp(`^${obj.replace(/[./]/g, '\\$&')} (created|unchanged|configured) \\(server dry run\\)$`, 'm').test(stdout);

      // `-f manifests/` takes every YAML file of the folder, kustomization.yaml included, which is
      // not an API object: all five objects are accepted and kubectl exits 1 for that file alone.
      const folder = await run(['apply', '--dry-run=server', '-f', 'manifests/']);
      for (const obj of objects) assert.ok(accepted(folder.stdout, obj), `${obj} not accepted:\n${folder.stdout}${folder.stderr}`);
      assert.equal(folder.code, 1, folder.stdout + folder.stderr);
      assert.match(folder.stderr, /"manifests\/kustomization\.yaml": no matches for kind "Kustomization"/);
      const otherErrors = folder.stderr.split('\n').filter((l) => /error/i.test(l) && !l.includes('manifests/kustomization.yaml'));
      assert.deepEqual(otherErrors, []);

      // So the folder is applied with -k (manifests/README.md): everything accepted, exit 0.
      const dry = await run(['apply', '--dry-run=server', '-k', 'manifests/']);
      assert.equal(dry.code, 0, dry.stderr);
      for (const obj of objects) assert.ok(accepted(dry.stdout, obj), `${obj} not accepted:\n${dry.stdout}`);
      // No warnings, e.g. none from Pod Security "restricted" (warn label) about the Deployment.
      assert.equal(dry.stderr.trim(), '', dry.stderr);

      // The per-cluster Secret scripts/gen-certs.sh writes.
      const secret = await run(['apply', '--dry-run=server', '-f', env.certs.secretYaml]);
      assert.equal(secret.code, 0, secret.stderr);
      assert.match(secret.stdout, /^secret\/imagegate-tls created \(server dry run\)$/m);
      assert.equal(secret.stderr.trim(), '', secret.stderr);

      // A dry run stores nothing.
      const dep = await env.kube.call('GET', '/apis/apps/v1/namespaces/imagegate/deployments/imagegate');
      assert.equal(dep.status, 404);

      await podTemplateDryRun(env);
    });

    it('kubectl run: a denied image shows "Error from server (Forbidden): … denied one or more images: <imagegate\'s reason>"', async (t) => {
      const denied = 'docker.io/e2e-denied/kubectl:9.0';
      if (!kubectl) {
        t.diagnostic('no kubectl within skew found; POST through the REST API instead');
        const res = await env.kube.createPod('e2e-kubectl', podManifest('kubectl-denied', { images: [denied] }));
        assertForbidden(res, 'kubectl-denied');
        return;
      }
      const res = await run(['run', 'kubectl-denied', `--image=${denied}`, '--restart=Never', '-n', 'e2e-kubectl']);
      assert.equal(res.code, 1, res.stdout + res.stderr);
      const d = await env.waitForDecision('e2e-kubectl', denied);
      assert.equal(
        res.stderr,
        `Error from server (Forbidden): pods "kubectl-denied" is forbidden: ${DENY_PREFIX}${d.reason}\n`,
      );
      t.diagnostic(`kubectl stderr: ${res.stderr.trim()}`);

      const ok = await run(['run', 'kubectl-allowed', '--image=docker.io/e2e-allowed/kubectl:9.0', '--restart=Never', '-n', 'e2e-kubectl']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), 'pod/kubectl-allowed created');
    });
  });
});

/** The REST fallback of the dry-run check: each object POSTed with ?dryRun=All. */
async function restDryRun(env: E2eEnvironment): Promise<void> {
  const { parseAllDocuments } = await import('yaml');
  const ns = await env.kube.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'imagegate' } });
  assert.ok(ns.status === 201 || ns.status === 409, describeResponse(ns));
  const paths: Record<string, string> = {
    ConfigMap: '/api/v1/namespaces/imagegate/configmaps',
    Secret: '/api/v1/namespaces/imagegate/secrets',
    Service: '/api/v1/namespaces/imagegate/services',
    Deployment: '/apis/apps/v1/namespaces/imagegate/deployments',
    PodDisruptionBudget: '/apis/policy/v1/namespaces/imagegate/poddisruptionbudgets',
  };
  const files = ['configmap.yaml', 'deployment.yaml', 'service.yaml', 'pdb.yaml'].map((f) => join(REPO, 'manifests', f));
  files.push(env.certs.secretYaml);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
      const obj = doc.toJSON() as { kind: string };
      const path = paths[obj.kind];
      assert.ok(path, `${f}: unexpected kind ${obj.kind}`);
      const res = await env.kube.call('POST', `${path}?dryRun=All&fieldValidation=Strict`, obj);
      assert.equal(res.status, 201, `${f}: ${describeResponse(res)}`);
      assert.equal(res.headers.warning, undefined, `${f}: ${String(res.headers.warning)}`);
    }
  }
}

/**
 * The Deployment's pod template as the Pod its ReplicaSet would create (no controller-manager runs
 * here), server-side dry run in namespace imagegate: Pod Security "restricted" is *enforced* there
 * (a Deployment only gets warnings), the Priority plugin resolves system-cluster-critical, and
 * imagegate reviews localhost/imagegate:0.1.0 — allowed by this test policy's imagegate-self rule,
 * the same rule the shipped configmap.yaml has.
 */
async function podTemplateDryRun(env: E2eEnvironment): Promise<void> {
  const { parse } = await import('yaml');
  const deployment = parse(readFileSync(join(REPO, 'manifests', 'deployment.yaml'), 'utf8')) as {
    spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
  };
  const template = deployment.spec.template;
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: 'imagegate-template-check' }, spec: template.spec };
  const res = await env.kube.createPod('imagegate', pod, '?dryRun=All&fieldValidation=Strict');
  assert.equal(res.status, 201, describeResponse(res));
  assert.equal(res.headers.warning, undefined, String(res.headers.warning));
  assert.equal(res.body.spec.priorityClassName, 'system-cluster-critical');
  assert.equal(typeof res.body.spec.priority, 'number');
  const d = await env.waitForDecision('imagegate', 'localhost/imagegate:0.1.0');
  assert.equal(d.allowed, true);
}
