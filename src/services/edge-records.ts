/**
 * The verification-record store behind every verify and every root-key check:
 * isolate cache → KV (`key:hash:<hash>`) → D1, with back-fill of KV on a miss.
 *
 * Invariants (docs/storage.md):
 * - A negative answer comes from D1, never from a KV miss alone.
 * - Mutations commit to D1, then `publish` the new record or a tombstone to KV and drop the isolate entry
 *   before they return, so the next verify on this isolate already sees the change.
 * - Back-filled records expire after 60 s (KV's minimum TTL), and a mutation publishes its entry twice (the
 *   second time after `republishDelayMs`), so a verify that read D1 just before a revoke and back-fills
 *   after it cannot resurrect the key beyond that delay.
 */
import type { Db } from "../db/client";
import { isTombstone, parseEdgeEntry, type EdgeEntry, type VerificationRecord } from "../lib/record";
import { recordCache } from "./cache";
import { loadKeyBundleByHash, toVerificationRecord } from "./key-bundles";

export const KV_KEY_PREFIX = "key:hash:";
/** KV's minimum expirationTtl; back-filled copies of D1 rows never outlive it. */
export const BACKFILL_TTL_SECONDS = 60;
/** Tombstones outlive any cached copy by far; when one expires, the next lookup asks D1 again. */
export const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;

export function kvKey(hash: string): string {
  return KV_KEY_PREFIX + hash;
}

export type EdgeRecordsOptions = {
  db: Db;
  kv: KVNamespace;
  cacheTtlMs: number;
  republishDelayMs: number;
  now: () => number;
  waitUntil: (p: Promise<unknown>) => void;
};

export class EdgeRecords {
  constructor(private readonly o: EdgeRecordsOptions) {}

  private get cache() {
    return recordCache(this.o.cacheTtlMs);
  }

  /** The hot path. Returns null for an unknown, deleted or tombstoned key. */
  async lookup(hash: string): Promise<VerificationRecord | null> {
    const hit = this.cache.get(hash, this.o.now());
    if (hit) return hit.value;
    const entry = parseEdgeEntry(await this.o.kv.get(kvKey(hash), "json"));
    if (entry) {
      const value = isTombstone(entry) ? null : entry.record;
      this.cache.set(hash, value, this.o.now());
      return value;
    }
    return this.loadFromD1(hash);
  }

  /** Reads D1 (the truth), back-fills KV in the background, and caches the answer. */
  async loadFromD1(hash: string): Promise<VerificationRecord | null> {
    const bundle = await loadKeyBundleByHash(this.o.db, hash);
    const record = bundle ? toVerificationRecord(bundle) : null;
    if (bundle) {
      const entry: EdgeEntry = record ? { v: 1, record } : { v: 1, tombstone: true, revision: bundle.key.revision };
      const ttl = record ? BACKFILL_TTL_SECONDS : TOMBSTONE_TTL_SECONDS;
      this.o.waitUntil(this.o.kv.put(kvKey(hash), JSON.stringify(entry), { expirationTtl: ttl }).catch(logKvError));
    }
    this.cache.set(hash, record, this.o.now());
    return record;
  }

  /**
   * Publishes the state D1 now holds for `hash` (after a committed mutation): the record, or a tombstone if
   * the key is gone. Drops the isolate entry first, so nothing on this isolate serves the old answer.
   */
  async publish(hash: string): Promise<VerificationRecord | null> {
    this.cache.delete(hash);
    const bundle = await loadKeyBundleByHash(this.o.db, hash);
    const record = bundle ? toVerificationRecord(bundle) : null;
    const entry: EdgeEntry = record ? { v: 1, record } : { v: 1, tombstone: true, revision: bundle?.key.revision ?? 0 };
    const body = JSON.stringify(entry);
    const put = () =>
      record
        ? this.o.kv.put(kvKey(hash), body)
        : this.o.kv.put(kvKey(hash), body, { expirationTtl: TOMBSTONE_TTL_SECONDS });
    await put();
    this.cache.delete(hash);
    if (this.o.republishDelayMs > 0) {
      this.o.waitUntil(
        new Promise((resolve) => setTimeout(resolve, this.o.republishDelayMs))
          .then(put)
          .catch(logKvError),
      );
    }
    return record;
  }

  /** Drops this isolate's cached entry (used when a new key takes a hash that was negatively cached). */
  evict(hash: string): void {
    this.cache.delete(hash);
  }
}

function logKvError(err: unknown): void {
  console.error(JSON.stringify({ level: "error", msg: "kv write failed", error: String(err) }));
}
