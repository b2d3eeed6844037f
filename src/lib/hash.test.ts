import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesToBase64, hashKey, sha256Hex } from "./hash";

const nodeSha256 = (s: string, enc: "base64" | "hex") => createHash("sha256").update(s, "utf8").digest(enc);

describe("hashKey", () => {
  it.each(["", "abc", "sk_live_3ZJ7xqKp9", "ünïcødé 🔑"])("is the padded base64 SHA-256 of %j", async (key) => {
    const expected = nodeSha256(key, "base64");
    expect(await hashKey(key)).toBe(expected);
  });

  it("matches the published SHA-256 vectors", async () => {
    expect(await hashKey("")).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    expect(await hashKey("abc")).toBe("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  });

  it("is 44 characters of standard base64 ending in one '=' pad", async () => {
    for (const key of ["", "a", "abc", "x".repeat(512)]) {
      const h = await hashKey(key);
      expect(h).toHaveLength(44);
      expect(h).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(base64ToBytes(h)).toHaveLength(32);
    }
  });

  it("differs for different keys", async () => {
    expect(await hashKey("key_a")).not.toBe(await hashKey("key_b"));
  });
});

describe("base64", () => {
  it("round-trips bytes of every length 0..64 and matches Node's encoder", () => {
    for (let len = 0; len <= 64; len++) {
      const input = crypto.getRandomValues(new Uint8Array(len));
      const text = bytesToBase64(input);
      expect(text).toBe(Buffer.from(input).toString("base64"));
      expect(base64ToBytes(text)).toEqual(input);
    }
  });

  it("encodes all 256 byte values", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(base64ToBytes(bytesToBase64(all))).toEqual(all);
  });
});

describe("sha256Hex", () => {
  it.each(["", "abc"])("is the lower-case hex SHA-256 of %j", async (s) => {
    expect(await sha256Hex(s)).toBe(nodeSha256(s, "hex"));
  });
});
