/**
 * Which rate-limit override applies to an identifier (ratelimit.limit, multiLimit).
 *
 * An override's `identifier` is either a literal or a pattern in which `*` matches any run of characters,
 * including none. Patterns are anchored (the whole identifier must match) and `*` is the only special
 * character: `.`, `?`, `[`, `\` and the rest match themselves. Matching is done by hand, never with a
 * RegExp built from the pattern, so no stored pattern can throw, be misread as a regex, or backtrack
 * exponentially: the cost is at most O(pattern × identifier) character comparisons (512 × 512).
 *
 * Precedence, chosen to be deterministic (Unkey uses "exact first, then wildcards in stored order", which
 * depends on the database's row order):
 * 1. An override whose identifier equals the request's identifier, character for character.
 * 2. Otherwise, among the patterns containing `*` that match, the most specific one: the one with the
 *    most literal (non-`*`) characters, so `user_premium_*` beats `user_*`, which beats `*`.
 * 3. Ties go to the pattern that sorts first by UTF-16 code units, then by id. Identifiers are unique per
 *    namespace, so the order never depends on the order the overrides were loaded in.
 */

export type OverrideLike = { id: string; identifier: string };

/** True if `value` matches `pattern`, where `*` matches any run of characters (including none). */
export function wildcardMatch(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === value;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  // The middle pieces must appear in order between the prefix and the suffix. Taking the leftmost
  // occurrence of each is always safe: it leaves the most room for the pieces after it.
  let pos = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const piece = parts[i]!;
    if (piece === "") continue;
    const at = value.indexOf(piece, pos);
    if (at === -1 || at + piece.length > end) return false;
    pos = at + piece.length;
  }
  return true;
}

/** Number of literal (non-`*`) characters: the specificity of a pattern. */
function literalLength(pattern: string): number {
  let n = 0;
  for (let i = 0; i < pattern.length; i++) if (pattern.charCodeAt(i) !== 42) n++;
  return n;
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders wildcard overrides by precedence: most literal characters first, then by pattern, then id. */
export function comparePrecedence(a: OverrideLike, b: OverrideLike): number {
  return literalLength(b.identifier) - literalLength(a.identifier) || compareCodeUnits(a.identifier, b.identifier) || compareCodeUnits(a.id, b.id);
}

/**
 * The override that applies to `identifier`, or undefined: the exact match if there is one, else the
 * matching `*` pattern of highest precedence (see the module comment). The input order does not matter.
 */
export function pickOverride<T extends OverrideLike>(identifier: string, overrides: readonly T[]): T | undefined {
  let exact: T | undefined;
  let best: T | undefined;
  for (const o of overrides) {
    if (o.identifier === identifier) {
      if (!exact || compareCodeUnits(o.id, exact.id) < 0) exact = o;
    } else if (o.identifier.includes("*") && wildcardMatch(o.identifier, identifier)) {
      if (!best || comparePrecedence(o, best) < 0) best = o;
    }
  }
  return exact ?? best;
}
