/**
 * The hand-written guards at the Durable Objects' boundary must never accept what the zod schemas (the
 * contract) refuse: for every input, guard ⇒ schema. They should also accept every well-formed input, or
 * the hot path would fall back to zod for nothing.
 */
import { describe, expect, it } from "vitest";
import { isKeyVerifyInput, KeyVerifyInputSchema, parseKeyVerifyInput } from "./key-state-protocol";
import { isLimiterInput, LimiterInputSchema, MAX_DURATION_MS, parseLimiterInput } from "./limiter-protocol";

/** A small deterministic generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES: unknown[] = [
  undefined, null, 0, -1, 1, 1.5, 999, 1000, MAX_DURATION_MS, MAX_DURATION_MS + 1, 31, 32, Number.NaN, Infinity,
  -Infinity, 2 ** 53, Number.MAX_SAFE_INTEGER, "", "x", "1", "a".repeat(513), true, {}, [], [{}],
];

function limit(i: number) {
  return { name: `requests${i}:60000`, limit: 10 + i, duration: 60_000, cost: 1 };
}

function validVerify(r: () => number) {
  const base: Record<string, unknown> = {
    workspaceId: "ws_1",
    keyId: "key_1",
    revision: Math.floor(r() * 10),
    limits: Array.from({ length: Math.floor(r() * 3) }, (_, i) => limit(i)),
    now: 1_700_000_000_000,
  };
  if (r() < 0.5) {
    base.credits = {
      initial: { remaining: 5, lastRefillAt: 0, ...(r() < 0.5 ? { refill: { amount: 3, ...(r() < 0.5 ? { refillDay: 31 } : {}) } } : {}) },
      cost: 1,
    };
  }
  return base;
}

/** Every path to a leaf of a plain value, e.g. ["limits", 0, "cost"]. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function mutate(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = replacement;
  return copy;
}

describe("boundary guards", () => {
  it("isKeyVerifyInput accepts well-formed input and never anything KeyVerifyInputSchema refuses", () => {
    const r = rng(7);
    let checked = 0;
    for (let i = 0; i < 300; i++) {
      const input = validVerify(r);
      expect(isKeyVerifyInput(input), JSON.stringify(input)).toBe(true);
      for (const path of paths(input)) {
        for (const odd of ODD_VALUES) {
          const bad = mutate(input, path, odd);
          if (isKeyVerifyInput(bad)) expect(KeyVerifyInputSchema.safeParse(bad).success, `${path.join(".")} = ${String(odd)}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it("isLimiterInput accepts well-formed input and never anything LimiterInputSchema refuses", () => {
    const r = rng(11);
    for (let i = 0; i < 200; i++) {
      const input = { requests: Array.from({ length: 1 + Math.floor(r() * 3) }, (_, j) => limit(j)), now: 1_700_000_000_000 };
      expect(isLimiterInput(input)).toBe(true);
      for (const path of paths(input)) {
        for (const odd of ODD_VALUES) {
          const bad = mutate(input, path, odd);
          if (isLimiterInput(bad)) expect(LimiterInputSchema.safeParse(bad).success, `${path.join(".")} = ${String(odd)}`).toBe(true);
        }
      }
    }
    expect(isLimiterInput({ requests: [], now: 0 })).toBe(false);
    expect(isLimiterInput({ requests: Array.from({ length: 101 }, (_, j) => limit(j)), now: 0 })).toBe(false);
  });

  it("the parsers fall back to zod, whose error names the field", () => {
    expect(() => parseLimiterInput({ requests: [{ ...limit(0), duration: 10 }], now: 0 })).toThrow(/duration/);
    expect(() => parseKeyVerifyInput(JSON.stringify({ ...validVerify(rng(1)), revision: -1 }))).toThrow(/revision/);
    expect(() => parseKeyVerifyInput({ workspaceId: "ws_1" })).toThrow(TypeError);
    expect(() => parseKeyVerifyInput("{")).toThrow(SyntaxError);
    const good = validVerify(rng(2));
    expect(parseKeyVerifyInput(JSON.stringify(good))).toEqual(good);
  });
});
