import { describe, expect, it } from "vitest";
import { BASE58_ALPHABET, base58Decode, base58Encode } from "./base58";

const bytes = (...b: number[]) => Uint8Array.from(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

describe("base58", () => {
  it("uses the Bitcoin alphabet (58 distinct characters, no 0 O I l)", () => {
    expect(BASE58_ALPHABET).toHaveLength(58);
    expect(new Set(BASE58_ALPHABET).size).toBe(58);
    for (const ch of "0OIl") expect(BASE58_ALPHABET).not.toContain(ch);
  });

  it.each([
    [bytes(), ""],
    [bytes(0), "1"],
    [bytes(0, 0, 1), "112"],
    [bytes(57), "z"],
    [bytes(58), "21"],
    [bytes(0, 0, 0, 0), "1111"],
    [bytes(255), "5Q"],
    [utf8("Hello World!"), "2NEpo7TZRRrLZSi2U"],
    [utf8("The quick brown fox jumps over the lazy dog."), "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"],
    [bytes(0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd), "11233QC4"],
  ])("encodes %j as %j and decodes it back", (input, encoded) => {
    expect(base58Encode(input)).toBe(encoded);
    expect(base58Decode(encoded)).toEqual(input);
  });

  it("round-trips random byte arrays of every length 0..255, with and without leading zeros", () => {
    for (let len = 0; len <= 255; len++) {
      for (const zeros of [0, 1, 3]) {
        const input = crypto.getRandomValues(new Uint8Array(len));
        for (let i = 0; i < Math.min(zeros, len); i++) input[i] = 0;
        // The first byte after the forced zeros is non-zero, so the count of leading "1"s is exact.
        if (zeros < len && input[zeros] === 0) input[zeros] = 1;
        const encoded = base58Encode(input);
        expect(encoded).toMatch(/^[1-9A-HJ-NP-Za-km-z]*$/);
        const leadingOnes = encoded.length - encoded.replace(/^1+/, "").length;
        expect(leadingOnes).toBe(Math.min(zeros, len));
        expect(base58Decode(encoded)).toEqual(input);
      }
    }
  });

  it("decodes the all-zero string of ones to zero bytes", () => {
    expect(base58Decode("")).toEqual(new Uint8Array(0));
    expect(base58Decode("111")).toEqual(bytes(0, 0, 0));
  });

  it.each(["0", "O", "I", "l", "abc0", "2NEpo7TZRRrLZSi2O", "lll", "+", "/", " ", "a b", "é", "_"])(
    "rejects %j, which has characters outside the alphabet",
    (text) => {
      expect(base58Decode(text)).toBeNull();
    },
  );
});
