import { BaseError, ConfigError, DecodeError, ImageReferenceError } from './errors';
import { UsageError } from './cli/args';

const USAGE = `usage: imagegate COMMAND

  serve [--config FILE] [--host H] [--port N] [--cert F --key F [--client-ca F]] [--insecure]
        [--log-level L] [--workers N]                 run the webhook (default policy without --config)
        kube-image-bouncer flags: -c/--cert -k/--key -p/--port --registry-whitelist a,b --debug
  review [--config FILE] [FILE.json | -]              decide one ImageReview, print the response
  check [--config FILE] [--namespace NS] [--annotation K=V]... [--output json] IMAGE...
  config validate FILE                                list every problem in a policy file
  version

exit codes: 0 allowed / ok, 1 denied, 2 bad input or configuration
`;

/** Process entry: dispatch to cli/, map errors to exit codes (0/1/2). */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await (await import('./cli/serve')).runServe(rest);
      case 'review':
        return await (await import('./cli/review')).runReview(rest);
      case 'check':
        return await (await import('./cli/check')).runCheck(rest);
      case 'config':
        if (rest[0] === 'validate') return await (await import('./cli/validate-config')).runValidateConfig(rest.slice(1));
        throw new UsageError(`unknown config subcommand "${rest[0] ?? ''}"; did you mean "config validate FILE"?`);
      case 'version':
      case '--version':
        process.stdout.write(`${require('../../package.json').version}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    return reportFailure(err);
  }
}

function reportFailure(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`imagegate: invalid configuration:\n${err.message}\n`);
    return 2;
  }
  if (err instanceof DecodeError || err instanceof ImageReferenceError) {
    process.stderr.write(`imagegate: bad input (${err.code}): ${err.message}\n`);
    return 2;
  }
  if (err instanceof UsageError || (err as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    process.stderr.write(`imagegate: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT' || (err as NodeJS.ErrnoException)?.code === 'EACCES') {
    process.stderr.write(`imagegate: ${(err as Error).message}\n`);
    return 2;
  }
  if (err instanceof BaseError) {
    process.stderr.write(`imagegate: ${err.code}: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`imagegate: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 2;
}
