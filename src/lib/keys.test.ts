import { describe, expect, it } from "vitest";
import { base58Decode } from "./base58";
import { DEFAULT_KEY_BYTES, MAX_KEY_BYTES, MIN_KEY_BYTES, generateKey, keyStart, prefixFromStart } from "./keys";

const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/;

describe("generateKey", () => {
  it("without a prefix returns bare base58 of 16 random bytes", () => {
    expect(DEFAULT_KEY_BYTES).toBe(16);
    const { key, start } = generateKey();
    expect(key).toMatch(BASE58);
    expect(key).not.toContain("_");
    expect(base58Decode(key)).toHaveLength(16);
    expect(start).toBe(key.slice(0, 4));
  });

  it("treats an empty prefix like no prefix", () => {
    const { key, start } = generateKey({ prefix: "" });
    expect(key).toMatch(BASE58);
    expect(start).toBe(key.slice(0, 4));
  });

  it("with a prefix returns prefix_ + base58 and a start of prefix_ + 4 characters", () => {
    const { key, start } = generateKey({ prefix: "sk_live" });
    expect(key.startsWith("sk_live_")).toBe(true);
    const random = key.slice("sk_live_".length);
    expect(random).toMatch(BASE58);
    expect(base58Decode(random)).toHaveLength(16);
    expect(start).toBe(`sk_live_${random.slice(0, 4)}`);
    expect(start).toBe(key.slice(0, "sk_live_".length + 4));
  });

  it.each([16, 17, 24, 32, 64, 128, 255])("decodes the random part of a %i-byte key to exactly that many bytes", (byteLength) => {
    for (let i = 0; i < 20; i++) {
      const { key } = generateKey({ prefix: "t", byteLength });
      const random = key.slice(2);
      expect(random).toMatch(BASE58);
      expect(base58Decode(random)).toHaveLength(byteLength);
    }
  });

  it("accepts the bounds of byteLength", () => {
    expect(MIN_KEY_BYTES).toBe(16);
    expect(MAX_KEY_BYTES).toBe(255);
    expect(() => generateKey({ byteLength: 16 })).not.toThrow();
    expect(() => generateKey({ byteLength: 255 })).not.toThrow();
  });

  it.each([15, 256, 1.5, 16.5, 0, -16, Number.NaN, Number.POSITIVE_INFINITY])("throws RangeError for byteLength %s", (byteLength) => {
    expect(() => generateKey({ byteLength })).toThrow(RangeError);
  });

  it("never repeats over 1000 keys", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) keys.add(generateKey({ prefix: "sk" }).key);
    expect(keys.size).toBe(1000);
  });
});

describe("keyStart", () => {
  it("takes the first 4 characters of the random part", () => {
    expect(keyStart(undefined, "abcdefgh")).toBe("abcd");
    expect(keyStart("sk", "abcdefgh")).toBe("sk_abcd");
  });
});

describe("prefixFromStart", () => {
  it.each([
    ["sk_live_abcd", "sk_live"],
    ["sk_abcd", "sk"],
    ["a_b_c_abcd", "a_b_c"],
    ["abcd", undefined],
    ["", undefined],
    ["_abcd", undefined],
  ])("prefixFromStart(%j) is %j", (start, prefix) => {
    expect(prefixFromStart(start)).toBe(prefix);
  });

  it("recovers the prefix of a generated key", () => {
    for (const prefix of ["sk", "sk_live", "a_b_c", "X9"]) {
      expect(prefixFromStart(generateKey({ prefix }).start)).toBe(prefix);
    }
    expect(prefixFromStart(generateKey().start)).toBeUndefined();
  });
});
