import { stringify } from 'yaml';

/** What a benchmark policy holds: the library rule, the signed rule, or both, and its cache. */
export interface BenchPolicyOptions {
  /** `bench-library`: docker.io/library/* by tag (scenarios 2, 3 and the decisions of 6). */
  readonly library: boolean;
  /** `signed`: everything on the registry peer, digest-pinned and cosign-verified (4, 5, 6). */
  readonly signed?: { readonly host: string; readonly publicKeyFile: string };
  readonly cache: { readonly allowTTL?: string; readonly denyTTL?: string; readonly maxEntries: number };
}

/** The policy file of a benchmark scenario: anything not named is denied; every cache bounded. */
export function benchPolicyYaml(o: BenchPolicyOptions): string {
  const rules: object[] = [];
  if (o.library) rules.push({ name: 'bench-library', images: ['docker.io/library/*'], requireDigest: false, allowLatest: false });
  if (o.signed) rules.push({ name: 'signed', images: [`${o.signed.host}/**`], requireDigest: true, verify: ['team'] });
  return stringify({
    apiVersion: 'imagegate/v1',
    kind: 'Policy',
    registries: [...(o.library ? ['docker.io'] : []), ...(o.signed ? [o.signed.host] : [])],
    defaultAction: 'deny',
    failurePolicy: 'closed',
    rules,
    ...(o.signed
      ? {
          verifiers: { team: { type: 'cosign', publicKeys: [{ file: o.signed.publicKeyFile }] } },
          transport: { plainHTTP: [o.signed.host] },
          timeouts: { review: '20s', lookup: '10s' },
        }
      : {}),
    cache: o.cache,
  });
}
