/**
 * Policies for the peer tests, written as YAML and loaded through the real loader
 * (server/policy/load.ts), so the tests drive the same CompiledPolicy the server would use.
 */
import { writeFileSync } from 'node:fs';
import { tempDir } from './temp-dirs';
import { join } from 'node:path';
import { loadPolicyText } from '../../server/policy/load';
import type { CompiledPolicy } from '../../server/policy/compiled-policy';
import type { LookupKind, LookupObserver } from '../../server/verify/lookups';

export interface CosignVerifierSpec {
  readonly publicKeys: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly matchReference?: boolean;
}

export interface PolicySpec {
  readonly registries: readonly string[];
  readonly plainHTTP?: readonly string[];
  readonly caFiles?: readonly string[];
  readonly credentialsFile?: string;
  readonly verifiers?: Readonly<Record<string, CosignVerifierSpec>>;
  /** Verifiers the catch-all rule requires; default every verifier defined. */
  readonly verify?: readonly string[];
  readonly failurePolicy?: 'open' | 'closed';
  readonly lookupTimeout?: string;
  readonly reviewTimeout?: string;
  readonly denyTTL?: string;
  readonly tagTTL?: string;
}

let generation = 100;

const q = (s: string) => JSON.stringify(s);

/** YAML for `spec`: one rule `peers` over every listed registry, resolveTags on. */
export function policyYaml(spec: PolicySpec): string {
  const verifiers = spec.verifiers ?? {};
  const verify = spec.verify ?? Object.keys(verifiers);
  const lines = [
    'apiVersion: imagegate/v1',
    'kind: Policy',
    `registries: [${spec.registries.map(q).join(', ')}]`,
    `failurePolicy: ${spec.failurePolicy ?? 'closed'}`,
    'rules:',
    '  - name: peers',
    `    images: [${spec.registries.map((r) => q(`${r}/**`)).join(', ')}]`,
    '    requireDigest: false',
    '    allowLatest: true',
    '    resolveTags: true',
    `    verify: [${verify.map(q).join(', ')}]`,
  ];
  if (Object.keys(verifiers).length) {
    lines.push('verifiers:');
    for (const [name, v] of Object.entries(verifiers)) {
      lines.push(`  ${name}:`, '    type: cosign', '    publicKeys:');
      for (const k of v.publicKeys) lines.push(k.includes('-----BEGIN') ? `      - pem: ${q(k)}` : `      - file: ${q(k)}`);
      if (v.annotations) lines.push(`    annotations: ${JSON.stringify(v.annotations)}`);
      if (v.matchReference !== undefined) lines.push(`    matchReference: ${v.matchReference}`);
    }
  }
  lines.push('transport:', `  plainHTTP: [${(spec.plainHTTP ?? []).map(q).join(', ')}]`, `  caFiles: [${(spec.caFiles ?? []).map(q).join(', ')}]`);
  if (spec.credentialsFile) lines.push('credentials:', `  file: ${q(spec.credentialsFile)}`);
  lines.push(
    'cache:',
    `  denyTTL: ${spec.denyTTL ?? '30s'}`,
    `  tagTTL: ${spec.tagTTL ?? '1m'}`,
    'timeouts:',
    `  review: ${spec.reviewTimeout ?? '20s'}`,
    `  lookup: ${spec.lookupTimeout ?? '10s'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** A fresh CompiledPolicy (a new generation each call) for `spec`. */
export function makePolicy(spec: PolicySpec): CompiledPolicy {
  generation += 1;
  return loadPolicyText(policyYaml(spec), 'test/peers', generation);
}

/** A docker config.json with `auths` written to a temp file; returns its path. */
export function writeDockerConfig(auths: Record<string, Record<string, string>>): string {
  const dir = tempDir('imagegate-creds-');
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ auths }), { mode: 0o600 });
  return file;
}

export function basicAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

/** A LookupObserver that records everything, for metric assertions. */
export class RecordingObserver implements LookupObserver {
  readonly lookups: { kind: LookupKind; result: 'success' | 'failure'; seconds: number }[] = [];
  readonly caches: { cache: 'tag' | 'verify'; hit: boolean }[] = [];
  lookupDone(kind: LookupKind, result: 'success' | 'failure', seconds: number): void {
    this.lookups.push({ kind, result, seconds });
  }
  cacheUsed(cache: 'tag' | 'verify', hit: boolean): void {
    this.caches.push({ cache, hit });
  }
  count(kind: LookupKind, result?: 'success' | 'failure'): number {
    return this.lookups.filter((l) => l.kind === kind && (result === undefined || l.result === result)).length;
  }
}
