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
 * - A publish that fails is retried (KV allows about one write per key per second); if it keeps failing it
 *   is logged, and records written by mutations expire after five minutes in any case.
 */
import type { Db } from "../db/client";
import { isTombstone, parseEdgeEntry, type EdgeEntry, type VerificationRecord } from "../lib/record";
import { recordCache } from "./cache";
import { ioCounters } from "./metrics";
import { loadKeyBundleByHash, toVerificationRecord } from "./key-bundles";

export const KV_KEY_PREFIX = "key:hash:";
/** KV's minimum expirationTtl; back-filled copies of D1 rows never outlive it. */
export const BACKFILL_TTL_SECONDS = 60;
/** Tombstones outlive any cached copy by far; when one expires, the next lookup asks D1 again. */
export const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;
/**
 * Records written by mutations expire after five minutes: if a later publish ever fails for good, no region
 * serves the stale record for longer than this before it re-reads D1 (a hot key costs one D1 read per
 * location every five minutes for it).
 */
export const RECORD_TTL_SECONDS = 300;
/** KV accepts about one write per key per second; a failed write is retried after this long. */
const PUBLISH_RETRY_MS = 1100;
const PUBLISH_ATTEMPTS = 3;

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
    const entry = parseEdgeEntry(await this.readKv(hash));
    if (entry) {
      const value = isTombstone(entry) ? null : entry.record;
      this.cache.set(hash, value, this.o.now());
      return value;
    }
    return this.loadFromD1(hash);
  }

  /** Reads D1 (the truth), back-fills KV in the background, and caches the answer. */
  async loadFromD1(hash: string): Promise<VerificationRecord | null> {
    ioCounters.d1Queries++;
    const bundle = await loadKeyBundleByHash(this.o.db, hash);
    const record = bundle ? toVerificationRecord(bundle) : null;
    if (bundle) {
      const entry: EdgeEntry = record ? { v: 1, record } : { v: 1, tombstone: true, revision: bundle.key.revision };
      const ttl = record ? BACKFILL_TTL_SECONDS : TOMBSTONE_TTL_SECONDS;
      ioCounters.kvWrites++;
      this.o.waitUntil(this.o.kv.put(kvKey(hash), JSON.stringify(entry), { expirationTtl: ttl }).catch(logKvError));
    }
    this.cache.set(hash, record, this.o.now());
    return record;
  }

  /**
   * Publishes the state D1 now holds for `hash` (after a committed mutation): the record, or a tombstone if
   * the key is gone (`goneRevision` names the revision of a key whose row no longer exists). Drops the
   * isolate entry first, so nothing on this isolate serves the old answer. A KV write that keeps failing is
   * logged, not thrown: the change is committed, and the entry it could not replace expires within
   * `RECORD_TTL_SECONDS`. Later, a second write of whatever D1 then holds closes the back-fill race.
   */
  async publish(hash: string, goneRevision = 0): Promise<VerificationRecord | null> {
    this.cache.delete(hash);
    const record = await this.writeFromD1(hash, goneRevision);
    this.cache.delete(hash);
    if (this.o.republishDelayMs > 0) {
      this.o.waitUntil(
        new Promise((resolve) => setTimeout(resolve, this.o.republishDelayMs)).then(() => this.writeFromD1(hash, goneRevision)),
      );
    }
    return record;
  }

  /**
   * Tombstones a key D1 has already marked deleted, without reloading it (bulk revocation: deleteApi).
   * The delayed second write applies as for `publish`.
   */
  async tombstone(hash: string, revision: number): Promise<void> {
    this.cache.delete(hash);
    await this.put(hash, { v: 1, tombstone: true, revision });
    this.cache.delete(hash);
    if (this.o.republishDelayMs > 0) {
      this.o.waitUntil(
        new Promise((resolve) => setTimeout(resolve, this.o.republishDelayMs)).then(() => this.put(hash, { v: 1, tombstone: true, revision })),
      );
    }
  }

  /** Writes KV from D1's current state. */
  private async writeFromD1(hash: string, goneRevision: number): Promise<VerificationRecord | null> {
    ioCounters.d1Queries++;
    const bundle = await loadKeyBundleByHash(this.o.db, hash);
    const record = bundle ? toVerificationRecord(bundle) : null;
    await this.put(hash, record ? { v: 1, record } : { v: 1, tombstone: true, revision: bundle?.key.revision ?? goneRevision });
    return record;
  }

  /** Writes one entry, retrying (KV takes about one write per key per second); failures are logged. */
  private async put(hash: string, entry: EdgeEntry): Promise<void> {
    const ttl = "record" in entry ? RECORD_TTL_SECONDS : TOMBSTONE_TTL_SECONDS;
    for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS; attempt++) {
      ioCounters.kvWrites++;
      try {
        await this.o.kv.put(kvKey(hash), JSON.stringify(entry), { expirationTtl: ttl });
        break;
      } catch (err) {
        logKvError(err);
        if (attempt < PUBLISH_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
      }
    }
  }

  /** A KV read that fails or returns something unreadable is a miss: D1 answers instead. */
  private async readKv(hash: string): Promise<unknown> {
    ioCounters.kvReads++;
    try {
      return await this.o.kv.get(kvKey(hash), "json");
    } catch (err) {
      console.error(JSON.stringify({ level: "warn", msg: "kv read failed; reading D1", error: String(err) }));
      return null;
    }
  }

  /** Drops this isolate's cached entry (used when a new key takes a hash that was negatively cached). */
  evict(hash: string): void {
    this.cache.delete(hash);
  }
}

function logKvError(err: unknown): void {
  console.error(JSON.stringify({ level: "error", msg: "kv write failed", error: String(err) }));
}
