import { parseArgs } from 'node:util';
import { ConfigError } from '../errors';
import { findShadowedRules } from '../policy/shadowed-rules';
import { loadPolicy } from './policy-source';
import { UsageError } from './args';

/**
 * `imagegate config validate FILE`: every problem with its path, line and what was expected;
 * warnings for rules an earlier rule always wins over. Exit 0 valid, 2 invalid.
 */
export async function runValidateConfig(argv: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('usage: imagegate config validate FILE');
  const file = positionals[0] as string;
  try {
    const policy = loadPolicy({ kind: 'file', path: file }, 1);
    const shadowed = findShadowedRules(policy);
    process.stdout.write(
      `${file}: valid (${policy.rules.length} rule(s), ${policy.verifiers.size} verifier(s), ${policy.registries.length} registr${policy.registries.length === 1 ? 'y' : 'ies'})\n`,
    );
    for (const s of shadowed) process.stdout.write(`warning: ${s.message}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stdout.write(`${file}: invalid, ${err.issues.length} problem(s):\n`);
    for (const line of err.message.split('\n')) process.stdout.write(`  ${line}\n`);
    return 2;
  }
}
