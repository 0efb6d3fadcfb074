/**
 * Every shipped launch point starts imagegate with the same V8 heap flags (server/cli/node-flags.ts:
 * without them RSS under load was ~230 MiB instead of ~135, issue 5), right after `node`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { RECOMMENDED_NODE_FLAGS } from '../../../server/cli/node-flags';

const ROOT = join(__dirname, '..', '..', '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

describe('shipped node flags', () => {
  it('are what the Dockerfile ENTRYPOINT runs', () => {
    const line = read('Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT '));
    assert.ok(line, 'an ENTRYPOINT line');
    assert.deepEqual(JSON.parse(line.slice('ENTRYPOINT '.length)), ['node', ...RECOMMENDED_NODE_FLAGS, '/app/bin/imagegate', 'serve']);
  });

  it('are what the Deployment runs', () => {
    const docs = read('manifests/deployment.yaml');
    const deployment = parse(docs) as { spec: { template: { spec: { containers: { name: string; command: string[] }[] } } } };
    const container = deployment.spec.template.spec.containers.find((c) => c.name === 'imagegate');
    assert.deepEqual(container?.command, ['node', ...RECOMMENDED_NODE_FLAGS, '/app/bin/imagegate']);
  });

  it('are what `npm start` runs', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['start'], ['node', ...RECOMMENDED_NODE_FLAGS, 'bin/imagegate', 'serve'].join(' '));
  });

  it('are accepted by this node', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [...RECOMMENDED_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'ok');
  });
});
