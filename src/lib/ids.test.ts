import { describe, expect, it } from "vitest";
import { newId, type IdPrefix } from "./ids";

const PREFIXES: IdPrefix[] = ["ws", "api", "ks", "key", "id", "rl", "perm", "role", "req", "log", "cor"];

describe("newId", () => {
  it.each(PREFIXES)("formats %s ids as <prefix>_ + 20 base62 characters", (prefix) => {
    const id = newId(prefix);
    expect(id).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{20}$`));
  });

  it("encodes the clock in the first 8 characters", () => {
    expect(newId("key", 0).slice(4, 12)).toBe("00000000");
    expect(newId("key", 61).slice(4, 12)).toBe("0000000z");
    expect(newId("key", 62).slice(4, 12)).toBe("00000010");
    expect(newId("key", 62 ** 8 - 1).slice(4, 12)).toBe("zzzzzzzz");
    const now = 1_750_000_000_000;
    expect(newId("key", now).slice(4, 12)).toBe(newId("key", now).slice(4, 12));
  });

  it("sorts lexicographically in creation-time order", () => {
    const times = [0, 1, 9, 10, 35, 36, 61, 62, 63, 3843, 3844, 1e9, 1_700_000_000_000, 1_700_000_000_001, 1_750_000_000_000, 3_000_000_000_000, 4_102_444_800_000, 62 ** 7, 62 ** 8 - 1];
    for (let i = 0; i < 500; i++) times.push(1_700_000_000_000 + i * 7919);
    times.sort((a, b) => a - b);
    const unique = [...new Set(times)];
    const ids = unique.map((t) => newId("key", t));
    // Default sort compares UTF-16 code units, i.e. the byte order a database index uses for ASCII.
    expect([...ids].sort()).toEqual(ids);
    for (let i = 1; i < ids.length; i++) expect(ids[i - 1]! < ids[i]!).toBe(true);
  });

  it("is unique over 10 000 ids made in the same millisecond", () => {
    const now = Date.now();
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(newId("key", now));
    expect(ids.size).toBe(10_000);
  });

  it("uses the whole base62 alphabet in the random part", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) for (const ch of newId("req").slice(12)) seen.add(ch);
    expect(seen.size).toBe(62);
  });
});
