/** The outcome of validating one field value: the normalised value, or what was wrong and expected. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly expected: string };
