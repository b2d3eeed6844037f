/**
 * Isolate-lifetime caches. They live at module scope on purpose: an isolate serves many requests, and the
 * whole point of the verify hot path is that a warm key costs no I/O. Each entry expires after the
 * configured TTL (VERIFY_CACHE_TTL_MS), which is one half of the revocation bound (the other is KV
 * propagation); a mutation on this isolate drops its entry at once.
 */
import type { VerificationRecord } from "../lib/record";
import { TtlLru } from "../lib/lru";

const MAX_ENTRIES = 10_000;
export const DEFAULT_CACHE_TTL_MS = 5_000;

let records: TtlLru<VerificationRecord | null> | undefined;
let recordsTtl = -1;

/**
 * Verification records by key hash; `null` is a negative entry (D1 said no such key), which keeps floods of
 * unknown keys off D1. A TTL change (tests use 0 to disable caching) builds a fresh cache.
 */
export function recordCache(ttlMs: number): TtlLru<VerificationRecord | null> {
  if (!records || recordsTtl !== ttlMs) {
    records = new TtlLru(MAX_ENTRIES, ttlMs);
    recordsTtl = ttlMs;
  }
  return records;
}

const LAST_USED_DEBOUNCE_MS = 60_000;
const lastUsedWrites = new TtlLru<true>(MAX_ENTRIES, LAST_USED_DEBOUNCE_MS);

/**
 * True at most once a minute per key on this isolate: `lastUsedAt` is written in the background, and a
 * busy key must not turn every verify into a D1 write.
 */
export function shouldTouchLastUsed(keyId: string, now: number): boolean {
  if (lastUsedWrites.get(keyId, now)) return false;
  lastUsedWrites.set(keyId, true, now);
  return true;
}
