import { describe, expect, it } from "vitest";
import { comparePrecedence, pickOverride, wildcardMatch } from "./override-match";

/** A small seeded PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Few letters (so patterns actually match), regex metacharacters, whitespace, a lone surrogate, an emoji.
const ALPHABET = ["a", "b", "a", "b", "*", "*", ".", "?", "[", "]", "(", ")", "\\", "^", "$", "+", "|", "{", "}", "\n", " ", "\ud83d", "😀", "_"];

function randomString(next: () => number, maxLen: number, alphabet = ALPHABET): string {
  const len = Math.floor(next() * (maxLen + 1));
  let s = "";
  for (let i = 0; i < len; i++) s += alphabet[Math.floor(next() * alphabet.length)]!;
  return s;
}

/** Reference 1: dynamic programming over UTF-16 code units. */
function dpMatch(pattern: string, value: string): boolean {
  const m = pattern.length;
  const n = value.length;
  let prev = new Array<boolean>(n + 1).fill(false);
  prev[0] = true;
  for (let i = 1; i <= m; i++) {
    const cur = new Array<boolean>(n + 1).fill(false);
    const p = pattern[i - 1];
    if (p === "*") cur[0] = prev[0]!;
    for (let j = 1; j <= n; j++) cur[j] = p === "*" ? prev[j]! || cur[j - 1]! : prev[j - 1]! && p === value[j - 1];
    prev = cur;
  }
  return prev[n]!;
}

/** Reference 2: an escaped, anchored RegExp (only in the test, never in the code under test). */
function regexMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split("*")
    .map((s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"))
    .join("[\\s\\S]*");
  return new RegExp(`^${source}$`).test(value);
}

describe("wildcardMatch", () => {
  it("matches literals exactly", () => {
    expect(wildcardMatch("user_1", "user_1")).toBe(true);
    expect(wildcardMatch("user_1", "user_12")).toBe(false);
    expect(wildcardMatch("", "")).toBe(true);
    expect(wildcardMatch("", "a")).toBe(false);
  });

  it("lets * match any run of characters, including none, anchored at both ends", () => {
    expect(wildcardMatch("*", "")).toBe(true);
    expect(wildcardMatch("*", "anything at all")).toBe(true);
    expect(wildcardMatch("user_*", "user_")).toBe(true);
    expect(wildcardMatch("user_*", "user_42")).toBe(true);
    expect(wildcardMatch("user_*", "xuser_42")).toBe(false);
    expect(wildcardMatch("*_admin", "bob_admin")).toBe(true);
    expect(wildcardMatch("*_admin", "bob_admin2")).toBe(false);
    expect(wildcardMatch("a*b*c", "abc")).toBe(true);
    expect(wildcardMatch("a*b*c", "a-x-b-y-c")).toBe(true);
    expect(wildcardMatch("a*b*c", "acb")).toBe(false);
    expect(wildcardMatch("**", "x")).toBe(true);
  });

  it("does not let the prefix and the suffix overlap", () => {
    expect(wildcardMatch("ab*ba", "aba")).toBe(false);
    expect(wildcardMatch("ab*ba", "abba")).toBe(true);
    expect(wildcardMatch("a*a", "a")).toBe(false);
    expect(wildcardMatch("a*b*b", "abb")).toBe(true);
    expect(wildcardMatch("a*bb*b", "abbb")).toBe(true);
    expect(wildcardMatch("a*bb*b", "abb")).toBe(false);
  });

  it("treats regex metacharacters as literals", () => {
    expect(wildcardMatch("a.c", "abc")).toBe(false);
    expect(wildcardMatch("a.c", "a.c")).toBe(true);
    expect(wildcardMatch("(x|y)*", "(x|y)z")).toBe(true);
    expect(wildcardMatch("(x|y)*", "x")).toBe(false);
    expect(wildcardMatch("[a-z]+", "b")).toBe(false);
    expect(wildcardMatch("\\d?*", "\\d?9")).toBe(true);
    expect(wildcardMatch("^$*", "^$")).toBe(true);
  });

  it("handles long and adversarial inputs without blowing up", () => {
    const value = "a".repeat(512);
    expect(wildcardMatch(`${"a*".repeat(255)}b`, value)).toBe(false);
    expect(wildcardMatch(`${"*a".repeat(256)}`, value)).toBe(true);
    expect(wildcardMatch("*".repeat(512), value)).toBe(true);
  });

  it("agrees with two reference implementations on generated patterns and identifiers, and never throws", () => {
    const next = rng(20240607);
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const pattern = randomString(next, 8);
      // Half the values are built from the pattern (so matches are common), half are random.
      const value =
        next() < 0.5 ? pattern.split("*").join(randomString(next, 3, ["a", "b", "*", "."])) : randomString(next, 10);
      const got = wildcardMatch(pattern, value);
      const dp = dpMatch(pattern, value);
      expect(got, JSON.stringify({ pattern, value })).toBe(dp);
      expect(regexMatch(pattern, value), JSON.stringify({ pattern, value })).toBe(dp);
      if (got) matched++;
    }
    // The generator really exercises both outcomes.
    expect(matched).toBeGreaterThan(2_000);
    expect(matched).toBeLessThan(18_000);
  });
});

describe("pickOverride", () => {
  const o = (id: string, identifier: string) => ({ id, identifier });

  it("returns undefined when nothing matches", () => {
    expect(pickOverride("user_1", [])).toBeUndefined();
    expect(pickOverride("user_1", [o("a", "user_2"), o("b", "admin_*")])).toBeUndefined();
  });

  it("prefers the exact identifier over any pattern", () => {
    const all = [o("star", "*"), o("prefix", "user_*"), o("exact", "user_1"), o("suffix", "*_1")];
    expect(pickOverride("user_1", all)?.id).toBe("exact");
  });

  it("treats an override whose identifier equals the request literally as exact, even with *", () => {
    expect(pickOverride("a*b", [o("longer", "a*b*"), o("same", "a*b")])?.id).toBe("same");
  });

  it("picks the pattern with the most literal characters", () => {
    const all = [o("star", "*"), o("user", "user_*"), o("premium", "user_premium_*")];
    expect(pickOverride("user_premium_7", all)?.id).toBe("premium");
    expect(pickOverride("user_basic_7", all)?.id).toBe("user");
    expect(pickOverride("bot_7", all)?.id).toBe("star");
  });

  it("breaks ties by the pattern's code-unit order, then by id", () => {
    const all = [o("z", "b*"), o("y", "*b")];
    expect(pickOverride("bb", all)?.id).toBe("y"); // "*b" < "b*"
    expect(comparePrecedence(o("a", "x*"), o("b", "x*"))).toBeLessThan(0);
  });

  it("does not depend on the order overrides are given in (generated)", () => {
    const next = rng(7);
    for (let i = 0; i < 2_000; i++) {
      const overrides = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, j) => o(`rlor_${j}`, randomString(next, 5, ["a", "b", "*"])));
      const identifier = randomString(next, 6, ["a", "b"]);
      const first = pickOverride(identifier, overrides);
      const reversed = pickOverride(identifier, [...overrides].reverse());
      const shuffled = pickOverride(identifier, [...overrides].sort(() => next() - 0.5));
      expect(reversed).toBe(first);
      expect(shuffled).toBe(first);
      if (first) expect(first.identifier === identifier || dpMatch(first.identifier, identifier)).toBe(true);
      else for (const x of overrides) expect(x.identifier !== identifier && !(x.identifier.includes("*") && dpMatch(x.identifier, identifier))).toBe(true);
    }
  });
});
