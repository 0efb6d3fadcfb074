import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadPolicyFile } from '../../../server/policy/load';
import { createPolicyStore, type ReloadResult } from '../../../server/policy/policy-store';
import { watchPolicy, type ReloadTrigger } from '../../../server/policy/policy-watcher';
import { minimalPolicy } from './helpers';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'imagegate-watch-'));
  dirs.push(d);
  return d;
}

/** Collects reload events; `next()` resolves with the next one (or fails after a timeout). */
function recorder() {
  const events: Array<{ result: ReloadResult; trigger: ReloadTrigger }> = [];
  let waiting: ((e: { result: ReloadResult; trigger: ReloadTrigger }) => void) | undefined;
  return {
    events,
    onReload(result: ReloadResult, trigger: ReloadTrigger) {
      const e = { result, trigger };
      events.push(e);
      const w = waiting;
      waiting = undefined;
      w?.(e);
    },
    next(timeoutMs = 3000): Promise<{ result: ReloadResult; trigger: ReloadTrigger }> {
      return new Promise((resolve, reject) => {
        // This timer also keeps the event loop alive while the (unref'd) watch waits.
        const t = setTimeout(() => reject(new Error('no reload within timeout')), timeoutMs);
        waiting = (e) => {
          clearTimeout(t);
          resolve(e);
        };
      });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes like an editor: a temporary file renamed over the original. */
function saveByRename(file: string, text: string) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

describe('watchPolicy', () => {
  describe('when the policy file is edited in place', () => {
    it('reloads the new policy, then keeps it when garbage is written', async () => {
      const dir = tempDir();
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, minimalPolicy());
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      try {
        let next = rec.next();
        writeFileSync(file, minimalPolicy('defaultAction: allow\n'));
        let e = await next;
        assert.equal(e.trigger, 'file');
        assert.ok(e.result.ok);
        assert.equal(store.current().generation, 2);
        assert.equal(store.current().defaultAction, 'allow');

        next = rec.next();
        writeFileSync(file, 'apiVersion: [garbage\n');
        e = await next;
        assert.equal(e.result.ok, false);
        assert.ok(!e.result.ok && e.result.error.code === 'CONFIG_SYNTAX');
        assert.equal(store.current().generation, 2, 'the last good policy stays');
        assert.equal(store.current().defaultAction, 'allow');
      } finally {
        stop();
      }
    });
  });

  describe('when an editor saves by renaming a new file over the old one', () => {
    it('reloads', async () => {
      const dir = tempDir();
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, minimalPolicy());
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      try {
        const next = rec.next();
        saveByRename(file, minimalPolicy('failurePolicy: open\n'));
        const e = await next;
        assert.ok(e.result.ok);
        assert.equal(store.current().failurePolicy, 'open');
      } finally {
        stop();
      }
    });
  });

  describe('when a Kubernetes ConfigMap volume swaps its ..data link', () => {
    it('reloads', async () => {
      // The kubelet's atomic writer: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>.
      const dir = tempDir();
      mkdirSync(join(dir, '..v1'));
      writeFileSync(join(dir, '..v1', 'policy.yaml'), minimalPolicy());
      symlinkSync('..v1', join(dir, '..data'));
      symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
      const file = join(dir, 'policy.yaml');
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      try {
        const next = rec.next();
        mkdirSync(join(dir, '..v2'));
        writeFileSync(join(dir, '..v2', 'policy.yaml'), minimalPolicy('defaultAction: allow\n'));
        symlinkSync('..v2', join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
        rmSync(join(dir, '..v1'), { recursive: true });
        const e = await next;
        assert.ok(e.result.ok);
        assert.equal(store.current().defaultAction, 'allow');
      } finally {
        stop();
      }
    });
  });

  describe('when the file is touched without changing its bytes', () => {
    it('does not start a new generation', async () => {
      const dir = tempDir();
      const file = join(dir, 'policy.yaml');
      const text = minimalPolicy();
      writeFileSync(file, text);
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      try {
        // The first event after start always reloads (what the store read is unknown).
        const first = rec.next();
        writeFileSync(file, minimalPolicy('defaultAction: allow\n'));
        await first;
        writeFileSync(file, minimalPolicy('defaultAction: allow\n'));
        await sleep(300);
        assert.equal(rec.events.length, 1);
        assert.equal(store.current().generation, 2);
      } finally {
        stop();
      }
    });
  });

  describe('when another file in the folder changes', () => {
    it('ignores it', async () => {
      const dir = tempDir();
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, minimalPolicy());
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      try {
        writeFileSync(join(dir, 'other.yaml'), 'x: 1\n');
        await sleep(300);
        assert.equal(rec.events.length, 0);
      } finally {
        stop();
      }
    });
  });

  describe('on SIGHUP', () => {
    it('reloads, even without a file to watch', async () => {
      let text = minimalPolicy();
      const { loadPolicyText } = await import('../../../server/policy/load');
      const store = createPolicyStore((g) => loadPolicyText(text, 'embedded:test', g));
      const rec = recorder();
      const stop = watchPolicy({ store, onReload: rec.onReload });
      try {
        text = minimalPolicy('defaultAction: allow\n');
        const next = rec.next();
        process.kill(process.pid, 'SIGHUP');
        const e = await next;
        assert.equal(e.trigger, 'SIGHUP');
        assert.ok(e.result.ok);
        assert.equal(store.current().generation, 2);
      } finally {
        stop();
      }
      assert.equal(process.listenerCount('SIGHUP'), 0, 'stop() removes the handler');
    });
  });

  describe('after stop()', () => {
    it('no longer reloads', async () => {
      const dir = tempDir();
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, minimalPolicy());
      const store = createPolicyStore((g) => loadPolicyFile(file, g));
      const rec = recorder();
      const stop = watchPolicy({ store, file, onReload: rec.onReload, sighup: false, debounceMs: 20 });
      stop();
      writeFileSync(file, minimalPolicy('defaultAction: allow\n'));
      await sleep(300);
      assert.equal(rec.events.length, 0);
      assert.equal(store.current().generation, 1);
    });
  });
});
