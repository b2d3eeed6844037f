import { base58Encode } from "./base58";

export const DEFAULT_KEY_BYTES = 16;
export const MIN_KEY_BYTES = 16;
export const MAX_KEY_BYTES = 255;
/** Longest key string verify accepts; anything longer cannot have been issued or imported. */
export const MAX_KEY_LENGTH = 512;

export type GenerateKeyOptions = { prefix?: string | undefined; byteLength?: number | undefined };

/**
 * Generates a key in Unkey's format: `prefix_` + base58 of `byteLength` CSPRNG bytes, or the bare base58
 * string without a prefix. Returns the plaintext (shown once) and `start`, the display fragment.
 */
export function generateKey(opts: GenerateKeyOptions = {}): { key: string; start: string } {
  const byteLength = opts.byteLength ?? DEFAULT_KEY_BYTES;
  if (!Number.isInteger(byteLength) || byteLength < MIN_KEY_BYTES || byteLength > MAX_KEY_BYTES) {
    throw new RangeError(`byteLength must be an integer in ${MIN_KEY_BYTES}..${MAX_KEY_BYTES}`);
  }
  const random = base58Encode(crypto.getRandomValues(new Uint8Array(byteLength)));
  const key = opts.prefix ? `${opts.prefix}_${random}` : random;
  return { key, start: keyStart(opts.prefix, random) };
}

/** `prefix_` plus the first 4 base58 characters, or just the first 4 without a prefix. */
export function keyStart(prefix: string | undefined, random: string): string {
  const head = random.slice(0, 4);
  return prefix ? `${prefix}_${head}` : head;
}

/**
 * Prefix of an existing key for a reroll, recovered from its `start`: everything before the last `_`.
 * (Unkey splits at the first `_`, which turns `sk_live` into `sk`; Latch keeps the whole prefix.)
 */
export function prefixFromStart(start: string): string | undefined {
  const i = start.lastIndexOf("_");
  return i > 0 ? start.slice(0, i) : undefined;
}
