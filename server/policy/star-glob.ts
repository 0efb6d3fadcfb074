/**
 * `*` globs over one string with no separator inside (a path component, a namespace).
 * `*` matches any run of characters, including none; every other character is literal.
 * Matching walks literal pieces with indexOf: no regex is ever built from user text
 * (style.md anti-pattern 1).
 */

/** A compiled `*` glob: the literal pieces between the stars. */
export interface StarGlob {
  readonly text: string;
  /** True when the glob has no `*`: it matches exactly its text. */
  readonly literal: boolean;
  matches(s: string): boolean;
}

/** Compiles a `*` glob once; `matches` then runs without allocating. */
export function compileStarGlob(text: string): StarGlob {
  const parts = text.split('*');
  if (parts.length === 1) {
    return Object.freeze({ text, literal: true, matches: (s: string) => s === text });
  }
  const prefix = parts[0] ?? '';
  const suffix = parts[parts.length - 1] ?? '';
  const middle = parts.slice(1, -1).filter((p) => p.length > 0);
  const minLength = prefix.length + suffix.length;
  const matches = (s: string): boolean => {
    if (s.length < minLength || !s.startsWith(prefix) || !s.endsWith(suffix)) return false;
    // Leftmost placement of each middle piece is optimal for `*`-only globs.
    let at = prefix.length;
    const end = s.length - suffix.length;
    for (const piece of middle) {
      const found = s.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
  return Object.freeze({ text, literal: false, matches });
}

/** True when every string `narrow` matches is also matched by `wide` (conservative: false when unsure). */
export function starGlobCovers(wide: string, narrow: string): boolean {
  if (wide === narrow) return true;
  if (wide.length > 0 && [...wide].every((c) => c === '*')) return true;
  if (!narrow.includes('*')) return compileStarGlob(wide).matches(narrow);
  return false;
}
