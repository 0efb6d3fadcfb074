import { parseArgs } from 'node:util';
import { ConfigError, formatIssues } from '../errors';
import { findShadowedRules } from '../policy/shadowed-rules';
import { checkVerifierMaterial } from '../verify/verifier-material';
import { loadPolicy } from './policy-source';
import { UsageError } from './args';

/**
 * `imagegate config validate FILE`: every problem with its path, line and what was expected;
 * then the verifiers' key and certificate material, read as `serve` reads it (files, PEM,
 * certificate rules, trusted identities; verify/verifier-material.ts); warnings for rules an
 * earlier rule always wins over and for certificates outside their validity. Exit 0 valid, 2 invalid.
 */
export async function runValidateConfig(argv: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('usage: imagegate config validate FILE');
  const file = positionals[0] as string;
  try {
    const policy = loadPolicy({ kind: 'file', path: file }, 1);
    const material = checkVerifierMaterial(policy, new Date());
    if (material.errors.length > 0) {
      process.stdout.write(`${file}: invalid, ${material.errors.length} problem(s) with verifier keys and certificates:\n`);
      for (const line of formatIssues(material.errors).split('\n')) process.stdout.write(`  ${line}\n`);
      return 2;
    }
    const shadowed = findShadowedRules(policy);
    process.stdout.write(
      `${file}: valid (${policy.rules.length} rule(s), ${policy.verifiers.size} verifier(s), ${policy.registries.length} registr${policy.registries.length === 1 ? 'y' : 'ies'})\n`,
    );
    for (const s of shadowed) process.stdout.write(`warning: ${s.message}\n`);
    for (const w of material.warnings) process.stdout.write(`warning: ${formatIssues([w])}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stdout.write(`${file}: invalid, ${err.issues.length} problem(s):\n`);
    for (const line of err.message.split('\n')) process.stdout.write(`  ${line}\n`);
    return 2;
  }
}
