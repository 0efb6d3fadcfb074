import { accessSync, constants } from 'node:fs';
import type { CompiledPolicy, PemSource, RootKeySource } from '../policy/compiled-policy';

/**
 * /readyz's "trust material readable" (interfaces.md "HTTP"): every file the policy names for
 * keys, certificates, CAs and credentials can be read right now.
 */
export function unreadableTrustFiles(policy: CompiledPolicy): string[] {
  const files: string[] = [...policy.transport.caFiles];
  if (policy.credentialsFile) files.push(policy.credentialsFile);
  for (const [name, v] of policy.verifiers) {
    const sources: Array<PemSource | RootKeySource> =
      v.type === 'cosign' ? [...v.publicKeys] : v.type === 'notaryv1' ? [...v.rootKeys] : [...v.trustStore, ...(v.tsaTrustStore ?? [])];
    for (const s of sources) if ('file' in s) files.push(`${s.file}\u0000${name}`);
  }
  const problems: string[] = [];
  for (const entry of files) {
    const [file, verifier] = entry.split('\u0000') as [string, string | undefined];
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      problems.push(`${verifier ? `verifier "${verifier}": ` : ''}cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return problems;
}
