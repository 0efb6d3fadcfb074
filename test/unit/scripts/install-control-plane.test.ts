import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import YAML from 'yaml';

/** The checkout: the first folder above this file that holds scripts/install-control-plane.sh. */
function findRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'scripts', 'install-control-plane.sh'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('scripts/install-control-plane.sh not found above ' + __dirname);
    dir = up;
  }
  return dir;
}
const ROOT = findRoot();
const INSTALL = join(ROOT, 'scripts', 'install-control-plane.sh');
const GEN_CERTS = join(ROOT, 'scripts', 'gen-certs.sh');
const FIXTURE = readFileSync(join(ROOT, 'test', 'fixtures', 'kubeadm', 'kube-apiserver.yaml'), 'utf8');
const PLUGINS_LINE = '    - --enable-admission-plugins=NodeRestriction';

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IMAGEGATE_') && k !== 'KUBE_APISERVER_MANIFEST') env[k] = v;
  return { ...env, ...extra };
}

/** Certificates for the fixture node (its --advertise-address is a SAN), made once. */
let certsDir: string;
before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'install-cp-certs-'));
  temps.push(dir);
  certsDir = join(dir, 'certs');
  const r = spawnSync('bash', [GEN_CERTS, '--out', certsDir, '--node-ip', '172.30.1.2'], { cwd: ROOT, env: cleanEnv({}), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

/** A node laid out like kubeadm's /etc/kubernetes, in a temp folder. */
class FakeNode {
  readonly etc: string;
  readonly manifest: string;
  readonly admissionDir: string;
  readonly backupDir: string;
  readonly original: string;

  constructor(manifest: string = FIXTURE) {
    const root = mkdtempSync(join(tmpdir(), 'install-cp-'));
    temps.push(root);
    this.etc = join(root, 'etc', 'kubernetes');
    mkdirSync(join(this.etc, 'manifests'), { recursive: true });
    this.manifest = join(this.etc, 'manifests', 'kube-apiserver.yaml');
    this.admissionDir = join(this.etc, 'admission');
    this.backupDir = join(this.etc, 'imagegate-backup');
    writeFileSync(this.manifest, manifest, { mode: 0o600 });
    this.original = manifest;
  }

  /** Runs the script the way the docs do, with the manifest and admission folder overridden. */
  run(args: string[] = [], env: Record<string, string> = {}): SpawnSyncReturns<string> {
    return spawnSync('bash', [INSTALL, '--certs', certsDir, '--no-wait', ...args], {
      cwd: ROOT,
      env: cleanEnv({ KUBE_APISERVER_MANIFEST: this.manifest, IMAGEGATE_ADMISSION_DIR: this.admissionDir, ...env }),
      encoding: 'utf8',
    });
  }

  current(): string {
    return readFileSync(this.manifest, 'utf8');
  }

  /** Every file under etc/kubernetes with its bytes and mtime, to prove a run changed nothing. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else out[p] = `${st.mtimeMs} ${st.mode.toString(8)} ${readFileSync(p, 'base64')}`;
      }
    };
    walk(this.etc);
    return out;
  }
}

function assertOk(r: SpawnSyncReturns<string>): void {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

interface PodLike {
  kind: string;
  spec: {
    containers: Array<{ command: string[]; volumeMounts: Array<Record<string, unknown>> }>;
    volumes: Array<Record<string, unknown>>;
  };
}

function parsePod(text: string): PodLike {
  const docs = YAML.parseAllDocuments(text);
  assert.equal(docs.length, 1, 'one YAML document');
  assert.deepEqual(docs[0]?.errors, [], 'valid YAML');
  return docs[0]?.toJS() as PodLike;
}

describe('scripts/install-control-plane.sh', () => {
  describe('on a kubeadm v1.33 kube-apiserver manifest', () => {
    const node = new FakeNode();
    let first: SpawnSyncReturns<string>;
    before(() => {
      first = node.run();
      assertOk(first);
    });

    it('appends ImagePolicyWebhook to the existing NodeRestriction', () => {
      assert.deepEqual(lines(node.current(), '    - --enable-admission-plugins='), [`${PLUGINS_LINE},ImagePolicyWebhook`]);
    });

    it('points --admission-control-config-file at the admission folder', () => {
      const cmd = parsePod(node.current()).spec.containers[0]?.command ?? [];
      assert.equal(cmd[0], 'kube-apiserver');
      assert.deepEqual(
        cmd.filter((a) => a.startsWith('--admission-control-config-file=')),
        [`--admission-control-config-file=${node.admissionDir}/admission_config.yaml`],
      );
    });

    it('mounts the admission folder read-only from the host at the same path', () => {
      const pod = parsePod(node.current());
      const mounts = pod.spec.containers[0]?.volumeMounts.filter((m) => m.name === 'imagegate-admission');
      assert.deepEqual(mounts, [{ mountPath: node.admissionDir, name: 'imagegate-admission', readOnly: true }]);
      const volumes = pod.spec.volumes.filter((v) => v.name === 'imagegate-admission');
      assert.deepEqual(volumes, [{ hostPath: { path: node.admissionDir, type: 'Directory' }, name: 'imagegate-admission' }]);
    });

    it('leaves every other line as it was', () => {
      const ours = new Set([
        `    - --admission-control-config-file=${node.admissionDir}/admission_config.yaml`,
        `    - mountPath: ${node.admissionDir}`,
        '      name: imagegate-admission',
        '      readOnly: true',
        '  - hostPath:',
        `      path: ${node.admissionDir}`,
        '      type: Directory',
        '    name: imagegate-admission',
      ]);
      // Removing the lines the script adds (and its plugin) from the new manifest must leave exactly
      // the original, once the lines the original itself has are accounted for.
      const original = node.original.split('\n');
      const added = node.current().split('\n');
      const remaining = [...added];
      for (const line of original) {
        const i = remaining.indexOf(line === PLUGINS_LINE ? `${PLUGINS_LINE},ImagePolicyWebhook` : line);
        assert.notEqual(i, -1, `lost line: ${line}`);
        remaining.splice(i, 1);
      }
      for (const line of remaining) assert.ok(ours.has(line), `unexpected line: ${line}`);
      assert.equal(remaining.length, 8);
    });

    it('writes a backup of the original manifest outside the manifests folder', () => {
      assert.equal(readFileSync(join(node.backupDir, 'kube-apiserver.yaml.before-imagegate'), 'utf8'), node.original);
      const stamped = readdirSync(node.backupDir).filter((n) => /^kube-apiserver\.yaml\.\d{8}T\d{6}Z$/.test(n));
      assert.equal(stamped.length, 1);
      assert.equal(readFileSync(join(node.backupDir, stamped[0] as string), 'utf8'), node.original);
      // The kubelet runs every non-hidden file of the manifests folder: nothing else may be there.
      assert.deepEqual(readdirSync(join(node.etc, 'manifests')), ['kube-apiserver.yaml']);
      assert.match(first.stderr, /backed up/);
    });

    it('keeps the manifest mode', () => {
      assert.equal(statSync(node.manifest).mode & 0o777, 0o600);
    });

    it('installs the admission config, the kubeconf and the apiserver credentials', () => {
      const dir = node.admissionDir;
      const ac = YAML.parse(readFileSync(join(dir, 'admission_config.yaml'), 'utf8'));
      assert.deepEqual(ac.plugins, [
        {
          name: 'ImagePolicyWebhook',
          configuration: { imagePolicy: { kubeConfigFile: `${dir}/kubeconf`, allowTTL: 50, denyTTL: 50, retryBackoff: 500, defaultAllow: false } },
        },
      ]);
      const kc = YAML.parse(readFileSync(join(dir, 'kubeconf'), 'utf8'));
      assert.equal(kc.clusters[0].cluster.server, 'https://172.30.1.2:30080/image_policy', 'the node IP from --advertise-address');
      assert.equal(kc.clusters[0].cluster['certificate-authority'], `${dir}/ca.crt`);
      assert.equal(kc.users[0].user['client-certificate'], `${dir}/apiserver-client.crt`);
      assert.equal(kc.users[0].user['client-key'], `${dir}/apiserver-client.key`);
      assert.equal(kc['current-context'], kc.contexts[0].name, 'the apiserver needs a current context');
      for (const f of ['ca.crt', 'apiserver-client.crt', 'apiserver-client.key']) {
        assert.equal(readFileSync(join(dir, f), 'utf8'), readFileSync(join(certsDir, f), 'utf8'));
      }
      assert.equal(statSync(join(dir, 'apiserver-client.key')).mode & 0o077, 0);
      assert.ok(!existsSync(join(dir, 'server.key')), "imagegate's own key stays out of the apiserver's folder");
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no scratch files are left behind');
    });

    it('changes nothing when run a second time', () => {
      const before = node.snapshot();
      const r = node.run();
      assertOk(r);
      assert.match(r.stderr, /unchanged/);
      assert.deepEqual(node.snapshot(), before);
      assert.equal(lines(node.current(), '    - --enable-admission-plugins=').length, 1);
    });

    it('restores the manifest byte for byte with --undo, and a second --undo does nothing', () => {
      const r = node.run(['--undo']);
      assertOk(r);
      assert.match(r.stderr, /identical to/);
      assert.equal(node.current(), node.original);
      assert.equal(statSync(node.manifest).mode & 0o777, 0o600);
      const again = node.run(['--undo']);
      assertOk(again);
      assert.match(again.stderr, /nothing to undo/);
      assert.equal(node.current(), node.original);
    });

    it('can install again after an undo', () => {
      assertOk(node.run());
      assert.deepEqual(lines(node.current(), '    - --enable-admission-plugins='), [`${PLUGINS_LINE},ImagePolicyWebhook`]);
      assertOk(node.run(['--undo']));
      assert.equal(node.current(), node.original);
    });
  });

  describe('when ImagePolicyWebhook is already enabled', () => {
    it('does not add it twice, and --undo leaves it there', () => {
      const node = new FakeNode(FIXTURE.replace(PLUGINS_LINE, `    - --enable-admission-plugins=ImagePolicyWebhook,NodeRestriction`));
      assertOk(node.run());
      assert.deepEqual(lines(node.current(), '    - --enable-admission-plugins='), ['    - --enable-admission-plugins=ImagePolicyWebhook,NodeRestriction']);
      assert.equal(lines(node.current(), '    - --admission-control-config-file=').length, 1);
      assertOk(node.run(['--undo']));
      assert.equal(node.current(), node.original);
    });
  });

  describe('when the manifest has no --enable-admission-plugins', () => {
    it('adds the flag with ImagePolicyWebhook alone, and --undo removes it', () => {
      const node = new FakeNode(FIXTURE.replace(`${PLUGINS_LINE}\n`, ''));
      assertOk(node.run());
      assert.deepEqual(lines(node.current(), '    - --enable-admission-plugins='), ['    - --enable-admission-plugins=ImagePolicyWebhook']);
      assertOk(node.run(['--undo']));
      assert.equal(node.current(), node.original);
    });
  });

  describe('when the manifest was edited after the install', () => {
    it('--undo removes only its own changes and keeps the later edit', () => {
      const node = new FakeNode();
      assertOk(node.run());
      writeFileSync(node.manifest, node.current().replace('    - --secure-port=6443\n', '    - --secure-port=6443\n    - --v=2\n'));
      const r = node.run(['--undo']);
      assertOk(r);
      assert.match(r.stderr, /changed since the install, which were kept/);
      assert.equal(node.current(), node.original.replace('    - --secure-port=6443\n', '    - --secure-port=6443\n    - --v=2\n'));
    });
  });

  describe('with another --admission-dir', () => {
    it('mounts that folder, and --undo finds it again without being told', () => {
      const node = new FakeNode();
      const other = join(node.etc, 'imagegate');
      assertOk(node.run(['--admission-dir', other]));
      assert.ok(node.current().includes(`    - --admission-control-config-file=${other}/admission_config.yaml\n`));
      assert.ok(existsSync(join(other, 'kubeconf')));
      const r = spawnSync('bash', [INSTALL, '--undo', '--no-wait'], {
        cwd: ROOT,
        env: cleanEnv({ KUBE_APISERVER_MANIFEST: node.manifest }),
        encoding: 'utf8',
      });
      assertOk(r);
      assert.equal(node.current(), node.original);
    });
  });

  describe('with --server', () => {
    it('writes that URL into the kubeconf when the serving certificate names its host', () => {
      const node = new FakeNode();
      assertOk(node.run(['--server', 'https://imagegate.imagegate.svc:1323/image_policy']));
      const kc = YAML.parse(readFileSync(join(node.admissionDir, 'kubeconf'), 'utf8'));
      assert.equal(kc.clusters[0].cluster.server, 'https://imagegate.imagegate.svc:1323/image_policy');
    });

    it('refuses a host that is not a SAN of server.crt, before changing anything', () => {
      const node = new FakeNode();
      const before = node.snapshot();
      const r = node.run(['--server', 'https://203.0.113.9:30080/image_policy']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /has no SAN for 203\.0\.113\.9/);
      assert.match(r.stderr, /--san IP:203\.0\.113\.9/);
      assert.deepEqual(node.snapshot(), before);
    });
  });

  describe('with --dry-run', () => {
    it('shows the diff and changes nothing', () => {
      const node = new FakeNode();
      const before = node.snapshot();
      const r = node.run(['--dry-run']);
      assertOk(r);
      assert.match(r.stdout, /^\+    - --enable-admission-plugins=NodeRestriction,ImagePolicyWebhook$/m);
      assert.match(r.stdout, /^\+    name: imagegate-admission$/m);
      assert.deepEqual(node.snapshot(), before);
      assert.ok(!existsSync(node.admissionDir) && !existsSync(node.backupDir));
    });
  });

  describe('when the certificates are missing', () => {
    it('says to run gen-certs.sh and changes nothing', () => {
      const node = new FakeNode();
      const before = node.snapshot();
      const r = node.run(['--certs', join(node.etc, 'no-such-folder')]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /run scripts\/gen-certs\.sh/);
      assert.deepEqual(node.snapshot(), before);
    });
  });

  describe('on a manifest it does not recognise', () => {
    const cases: Array<[string, (m: string) => string, RegExp]> = [
      ['another admission config file is already in use', (m) => m.replace(PLUGINS_LINE, `${PLUGINS_LINE}\n    - --admission-control-config-file=/etc/kubernetes/other.yaml`), /already uses --admission-control-config-file=\/etc\/kubernetes\/other\.yaml/],
      ['ImagePolicyWebhook is disabled explicitly', (m) => m.replace(PLUGINS_LINE, `${PLUGINS_LINE}\n    - --disable-admission-plugins=ImagePolicyWebhook`), /disables ImagePolicyWebhook/],
      ['the lists are indented differently (not kubeadm)', (m) => m.replace(/^    volumeMounts:\n    - /m, '    volumeMounts:\n      - '), /not in kubeadm's layout/],
      ['the container has no volumeMounts', (m) => m.replace('    volumeMounts:\n', '    volumeMounts: []\n'), /expected one '    volumeMounts:' line/],
      ['the file has CRLF line endings', (m) => m.replace(/\n/g, '\r\n'), /CRLF/],
      ['it is not a Pod', (m) => m.replace('kind: Pod\n', 'kind: Deployment\n'), /not a single Pod manifest/],
    ];
    for (const [why, mutate, message] of cases) {
      it(`refuses when ${why}, and changes nothing`, () => {
        const node = new FakeNode(mutate(FIXTURE));
        const before = node.snapshot();
        const r = node.run();
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /refusing/);
        assert.match(r.stderr, message);
        assert.deepEqual(node.snapshot(), before);
      });
    }
  });

  describe('with --wait', () => {
    /**
     * Stand-ins for the node's tools: `crictl ps -q` prints an id derived from the manifest's bytes
     * (so the kube-apiserver container "restarts" when the manifest changes), and `kubectl get --raw
     * /readyz` succeeds or fails as FAKE_READY says.
     */
    function fakeTools(node: FakeNode): Record<string, string> {
      const bin = join(node.etc, 'fake-bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'crictl'), `#!/usr/bin/env bash\nsha256sum "${node.manifest}" | cut -c1-13\n`, { mode: 0o755 });
      writeFileSync(join(bin, 'kubectl'), '#!/usr/bin/env bash\n[[ "${FAKE_READY:-1}" == 1 ]]\n', { mode: 0o755 });
      const admin = join(node.etc, 'admin.conf');
      writeFileSync(admin, 'apiVersion: v1\nkind: Config\n');
      return { PATH: `${bin}:${process.env.PATH ?? ''}`, IMAGEGATE_ADMIN_KUBECONFIG: admin };
    }

    it('waits until a new kube-apiserver container is ready', () => {
      const node = new FakeNode();
      const r = node.run(['--wait', '--wait-timeout', '20'], fakeTools(node));
      assertOk(r);
      assert.match(r.stderr, /kube-apiserver is back \(container [0-9a-f]{13}\) and ready/);
    });

    it('exits 3 with where to look when kube-apiserver does not become ready', () => {
      const node = new FakeNode();
      const r = node.run(['--wait', '--wait-timeout', '3'], { ...fakeTools(node), FAKE_READY: '0' });
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /did not come back within 3s/);
      assert.match(r.stderr, /--undo/);
      assert.ok(node.current().includes('ImagePolicyWebhook'), 'the edit itself stays: the message says how to undo it');
    });
  });

  describe('on bad arguments', () => {
    it('will not put backups inside the manifests folder, where the kubelet would run them', () => {
      const node = new FakeNode();
      const r = node.run(['--backup-dir', join(node.etc, 'manifests', 'backup')]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /outside/);
    });

    it('rejects an unknown flag with exit code 2', () => {
      const node = new FakeNode();
      const r = node.run(['--bogus']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /unknown argument/);
    });
  });

  describe('the shipped control-plane templates', () => {
    it('admission_config.yaml has the CKS-lab values and an absolute kubeConfigFile', () => {
      const ac = YAML.parse(readFileSync(join(ROOT, 'manifests', 'control-plane', 'admission_config.yaml'), 'utf8'));
      assert.equal(ac.apiVersion, 'apiserver.config.k8s.io/v1');
      assert.equal(ac.kind, 'AdmissionConfiguration');
      assert.deepEqual(ac.plugins[0].configuration.imagePolicy, {
        kubeConfigFile: '/etc/kubernetes/admission/kubeconf',
        allowTTL: 50,
        denyTTL: 50,
        retryBackoff: 500,
        defaultAllow: false,
      });
    });

    it('kubeconf has a context and current-context and posts to /image_policy over https', () => {
      const kc = YAML.parse(readFileSync(join(ROOT, 'manifests', 'control-plane', 'kubeconf'), 'utf8'));
      assert.equal(kc.kind, 'Config');
      assert.equal(new URL(kc.clusters[0].cluster.server).protocol, 'https:');
      assert.equal(new URL(kc.clusters[0].cluster.server).pathname, '/image_policy');
      assert.equal(kc['current-context'], kc.contexts[0].name);
      for (const p of [kc.clusters[0].cluster['certificate-authority'], kc.users[0].user['client-certificate'], kc.users[0].user['client-key']]) {
        assert.match(p, /^\/etc\/kubernetes\/admission\//);
      }
    });
  });
});
