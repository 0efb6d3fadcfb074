/** Assertions on error class and code, never on message text alone (style.md example 2). */
import assert from 'node:assert/strict';
import { BaseError } from '../../server/errors';

type ErrorClass = abstract new (...args: never[]) => BaseError<string>;

/** Awaits `work`, asserts it rejects with `cls` and `code`; returns the error for further checks. */
export async function rejectsWithCode<E extends BaseError<string>>(work: Promise<unknown>, cls: ErrorClass, code: string): Promise<E> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}(${code}), got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.equal((err as BaseError<string>).code, code, `expected code ${code}, got ${(err as BaseError<string>).code}: ${(err as Error).message}`);
    return err as E;
  }
  assert.fail(`expected ${cls.name}(${code}), but it resolved`);
}
