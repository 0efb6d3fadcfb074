import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../server/errors';
import type { CompiledPolicy } from '../../../server/policy/compiled-policy';
import { loadPolicyText } from '../../../server/policy/load';
import { createPolicyStore, PolicyStore } from '../../../server/policy/policy-store';
import { minimalPolicy } from './helpers';

/** A loader reading from a variable the test changes, like a file on disk. */
function fakeSource(initial: string) {
  const source = { text: initial, calls: [] as number[] };
  const load = (generation: number): CompiledPolicy => {
    source.calls.push(generation);
    return loadPolicyText(source.text, 'test', generation);
  };
  return { source, load };
}

const allow = minimalPolicy('defaultAction: allow\n');

describe('PolicyStore', () => {
  it('has no policy until the first reload, which installs generation 1', () => {
    const { load } = fakeSource(minimalPolicy());
    const store = new PolicyStore(load);
    assert.equal(store.loaded, false);
    assert.equal(store.generation, 0);
    assert.throws(() => store.current());
    const r = store.reload();
    assert.ok(r.ok);
    assert.equal(r.policy.generation, 1);
    assert.equal(store.current(), r.policy);
  });

  it('increments the generation on every successful reload', () => {
    const { source, load } = fakeSource(minimalPolicy());
    const store = createPolicyStore(load);
    source.text = allow;
    const r = store.reload();
    assert.ok(r.ok);
    assert.equal(r.policy.generation, 2);
    assert.equal(store.current().defaultAction, 'allow');
  });

  describe('when a reload fails', () => {
    const { source, load } = fakeSource(minimalPolicy());
    const store = createPolicyStore(load);
    const good = store.current();
    source.text = 'apiVersion: imagegate/v1\nkind: Policy\nregistries: [docker.io]\nrules: []\nbogus: 1\n';
    const failed = store.reload();

    it('returns the ConfigError', () => {
      assert.equal(failed.ok, false);
      assert.ok(!failed.ok && failed.error instanceof ConfigError);
      assert.ok(!failed.ok && failed.error.code === 'CONFIG_INVALID');
    });

    it('keeps the last good policy in force', () => {
      assert.equal(store.current(), good);
    });

    it('does not use up a generation', () => {
      source.text = allow;
      const r = store.reload();
      assert.ok(r.ok);
      assert.equal(r.policy.generation, 2);
    });
  });

  it('wraps an unexpected loader error into a ConfigError and keeps the policy', () => {
    let fail = false;
    const store = createPolicyStore((g) => {
      if (fail) throw new RangeError('boom');
      return loadPolicyText(minimalPolicy(), 'test', g);
    });
    fail = true;
    const r = store.reload();
    assert.ok(!r.ok);
    assert.ok(r.error instanceof ConfigError);
    assert.ok(r.error.cause instanceof RangeError);
    assert.equal(store.current().generation, 1);
  });

  it('tells listeners about each swap, with the previous policy, and not about failures', () => {
    const { source, load } = fakeSource(minimalPolicy());
    const store = createPolicyStore(load);
    const seen: Array<[number, number | undefined]> = [];
    const unsubscribe = store.onChange((p, prev) => seen.push([p.generation, prev?.generation]));
    source.text = 'not: [valid';
    store.reload();
    source.text = allow;
    store.reload();
    unsubscribe();
    store.reload();
    assert.deepEqual(seen, [[2, 1]]);
  });

  it('still swaps when a listener throws, and reports it', () => {
    const { load } = fakeSource(minimalPolicy());
    const errors: unknown[] = [];
    const store = createPolicyStore(load, { onListenerError: (e) => errors.push(e) });
    store.onChange(() => {
      throw new Error('listener');
    });
    const r = store.reload();
    assert.ok(r.ok);
    assert.equal(store.current().generation, 2);
    assert.equal(errors.length, 1);
  });
});

describe('createPolicyStore', () => {
  it('throws the ConfigError when the first policy is invalid (start fails: exit 2)', () => {
    assert.throws(
      () => createPolicyStore((g) => loadPolicyText('kind: Policy\n', 'test', g)),
      (err: unknown) => err instanceof ConfigError && err.code === 'CONFIG_INVALID',
    );
  });
});
