/**
 * parseReference against the vector table test/vectors/references/cases.json (see its README for
 * the columns), then the properties every row must keep. Rejections assert the class and the
 * code, never the message text (style.md "Error model").
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageReferenceError } from '../../../server/errors';
import { REFERENCE_MAX_LENGTH, parseReference } from '../../../server/reference/parse';
import { canonicalName, familiarFullName, type Reference } from '../../../server/reference/reference';

/** Tests run from the repository root (scripts/run-tests.mjs, `node --test dist/...`). */
const VECTORS_PATH = join(process.cwd(), 'test', 'vectors', 'references', 'cases.json');

interface AcceptRow {
  input: string;
  registry: string;
  path: string;
  repository: string;
  tag: string | null;
  tagImplied: boolean;
  digest: string | null;
  /** `differs` when distribution/reference v0.6.0 normalises it differently (README.md). */
  distribution?: 'differs';
  why: string;
}
interface RejectRow {
  input: string;
  error: 'INVALID_REFERENCE';
  /** `accepts` when distribution/reference v0.6.0 accepts what imagegate refuses (README.md). */
  distribution?: 'accepts';
  why: string;
}
type Row = AcceptRow | RejectRow;
interface Group {
  group: string;
  rows: Row[];
}

function isRejectRow(row: Row): row is RejectRow {
  return 'error' in row;
}

/** Loads the vectors and expands `{{sha256}}`, `{{sha512}}` and `{{repeat:TEXT:N}}` in every string. */
function loadGroups(): Group[] {
  const raw = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as {
    placeholders: Record<string, string>;
    groups: Group[];
  };
  const expand = (s: string): string =>
    s
      .replace(/\{\{repeat:(.*?):(\d+)\}\}/g, (_m, text: string, n: string) => text.repeat(Number(n)))
      .replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
        const value = raw.placeholders[name];
        if (value === undefined) throw new Error(`unknown placeholder {{${name}}} in ${VECTORS_PATH}`);
        return value;
      });
  return raw.groups.map((g) => ({
    group: g.group,
    rows: g.rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'string' && k !== 'why' ? expand(v) : v;
      return out as unknown as Row;
    }),
  }));
}

/** A short, escaped rendering of an input for a test title. */
function title(input: string): string {
  const shown = JSON.stringify(input.length > 80 ? input.slice(0, 80) : input);
  return input.length > 80 ? `${shown}...(${input.length} chars)` : shown;
}

/** Asserts that parsing throws an ImageReferenceError with code INVALID_REFERENCE, and returns it. */
function assertInvalid(input: unknown): ImageReferenceError {
  let caught: unknown;
  try {
    parseReference(input as string);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ImageReferenceError, `expected ImageReferenceError, got ${String(caught)}`);
  assert.equal(caught.code, 'INVALID_REFERENCE');
  return caught;
}

/** The observable fields of a Reference, in the vectors' shape. */
function fieldsOf(ref: Reference): Omit<AcceptRow, 'input' | 'why' | 'distribution'> {
  return {
    registry: ref.registry,
    path: ref.path,
    repository: ref.repository,
    tag: ref.tag ?? null,
    tagImplied: ref.tagImplied,
    digest: ref.digest ?? null,
  };
}

const groups = loadGroups();
const rows = groups.flatMap((g) => g.rows);
const accepted = rows.filter((r): r is AcceptRow => !isRejectRow(r));
const rejected = rows.filter(isRejectRow);

describe('the reference vectors', () => {
  it('hold hundreds of rows, each with a reason', () => {
    assert.ok(rows.length >= 300, `only ${rows.length} rows`);
    for (const row of rows) assert.ok(typeof row.why === 'string' && row.why.trim() !== '', `no why: ${title(row.input)}`);
  });

  it('hold each input once', () => {
    const seen = new Set<string>();
    for (const row of rows) {
      assert.ok(!seen.has(row.input), `duplicate row ${title(row.input)}`);
      seen.add(row.input);
    }
  });

  it('expect repository to be registry/path on every accepted row', () => {
    for (const row of accepted) assert.equal(row.repository, `${row.registry}/${row.path}`, title(row.input));
  });

  it('mark disagreements with distribution only with the documented values', () => {
    for (const row of rows) {
      if (row.distribution === undefined) continue;
      assert.equal(row.distribution, isRejectRow(row) ? 'accepts' : 'differs', title(row.input));
    }
  });
});

describe('parseReference', () => {
  for (const g of groups) {
    describe(g.group, () => {
      for (const row of g.rows) {
        if (isRejectRow(row)) {
          it(`refuses ${title(row.input)} (${row.why})`, () => {
            assertInvalid(row.input);
          });
        } else {
          it(`reads ${title(row.input)} as ${title(row.repository)} (${row.why})`, () => {
            const ref = parseReference(row.input);
            const { input: _input, why: _why, distribution: _distribution, ...expected } = row;
            assert.deepEqual(fieldsOf(ref), expected);
            assert.equal(ref.original, row.input);
          });
        }
      }
    });
  }

  describe('when the input is not a string', () => {
    for (const value of [undefined, null, 42, {}, ['nginx'], Buffer.from('nginx')]) {
      it(`is rejected with INVALID_REFERENCE (${Object.prototype.toString.call(value)})`, () => {
        assertInvalid(value);
      });
    }
  });

  describe('when the input is exactly at the length cap', () => {
    it('is not refused for its length alone', () => {
      // 4096 characters that are otherwise invalid only because the path limit is lower: the
      // cap itself must be inclusive. A valid reference of this length cannot exist (path ≤ 255).
      const input = `ghcr.io/acme/api:${'a'.repeat(100)}@sha256:${'a'.repeat(REFERENCE_MAX_LENGTH - 125)}`;
      assert.equal(input.length, REFERENCE_MAX_LENGTH);
      assertInvalid(input);
    });
  });
});

describe('every accepted reference', () => {
  it('is frozen', () => {
    for (const row of accepted) assert.ok(Object.isFrozen(parseReference(row.input)), title(row.input));
  });

  it('parses back to itself from its canonical name', () => {
    for (const row of accepted) {
      const ref = parseReference(row.input);
      const again = parseReference(canonicalName(ref));
      assert.equal(again.repository, ref.repository, title(row.input));
      assert.equal(again.digest, ref.digest, title(row.input));
      if (!ref.digest) assert.equal(again.tag, ref.tag, title(row.input));
      assert.equal(canonicalName(again), canonicalName(ref), title(row.input));
    }
  });

  it('parses back to itself from its full name, tag and digest included', () => {
    for (const row of accepted) {
      const ref = parseReference(row.input);
      const again = parseReference(familiarFullName(ref));
      assert.deepEqual({ ...fieldsOf(again), tagImplied: ref.tagImplied }, fieldsOf(ref), title(row.input));
    }
  });

  it('has a lowercase registry and path', () => {
    for (const row of accepted) {
      const ref = parseReference(row.input);
      assert.equal(ref.registry, ref.registry.toLowerCase(), title(row.input));
      assert.equal(ref.path, ref.path.toLowerCase(), title(row.input));
    }
  });
});

describe('canonicalName', () => {
  it('uses the digest when a reference has both tag and digest', () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    assert.equal(canonicalName(parseReference(`nginx:1.25@${digest}`)), `docker.io/library/nginx@${digest}`);
  });

  it('adds the implied latest tag', () => {
    assert.equal(canonicalName(parseReference('nginx')), 'docker.io/library/nginx:latest');
  });

  it('keeps the port in the registry', () => {
    assert.equal(canonicalName(parseReference('127.0.0.1:5000/demo/app:v1')), '127.0.0.1:5000/demo/app:v1');
  });
});

describe('every refused reference', () => {
  it('has a message that is printable ASCII and bounded, whatever the input held', () => {
    // Messages become the apiserver's reason and audit fields: no control, bidi or lookalike
    // characters may pass through, and a huge input must not become a huge reason.
    for (const row of rejected) {
      const err = assertInvalid(row.input);
      assert.match(err.message, /^[\x20-\x7e]*$/, title(row.input));
      assert.ok(err.message.length <= 1024, `${err.message.length} chars for ${title(row.input)}`);
    }
  });

  it('is refused quickly, adversarial shapes included', () => {
    // The grammar runs on separated pieces only; no input within the cap may take long.
    for (const row of rejected) {
      const start = process.hrtime.bigint();
      assertInvalid(row.input);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.ok(ms < 50, `${ms.toFixed(1)} ms for ${title(row.input)}`);
    }
  });
});
