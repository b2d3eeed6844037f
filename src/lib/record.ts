/**
 * The verification record: everything a verify needs to decide, so a warm verify does no I/O. It is stored
 * in KV under the key's hash (see docs/storage.md) and cached per isolate. It never contains the key itself.
 */
import type { CreditState } from "./usage";

export type RatelimitConfig = { id: string; name: string; limit: number; duration: number; autoApply: boolean };

export type RefillConfig = { interval: "daily" | "monthly"; amount: number; refillDay?: number };

export type IdentityRecord = {
  id: string;
  externalId: string;
  meta?: Record<string, unknown>;
  ratelimits: RatelimitConfig[];
};

export type VerificationRecord = {
  keyId: string;
  workspaceId: string;
  keyspaceId: string;
  /** The API owning the keyspace; absent for root keys. */
  apiId?: string;
  /**
   * The API's IP allow-list (canonical CIDR text), carried here so the check costs no I/O; absent = verifies
   * from anywhere. Changing it republishes every key of the API.
   */
  ipWhitelist?: string[];
  /** Root keys only: the workspace this key administers. */
  forWorkspaceId?: string;
  name?: string;
  meta?: Record<string, unknown>;
  enabled: boolean;
  expires?: number;
  identity?: IdentityRecord;
  /** Slugs, direct and through roles, deduplicated. */
  permissions: string[];
  roles: string[];
  /** Key-level limits only; identity-level ones are on `identity`. */
  ratelimits: RatelimitConfig[];
  /**
   * The D1 mirror of the balance and the refill settings. Once the key's Durable Object exists, its balance
   * is the truth; this only seeds the object the first time.
   */
  credits?: CreditState;
  revision: number;
};

/** What KV holds under `key:hash:<hash>`: a live record, or a tombstone for a deleted key or API. */
export type EdgeEntry = { v: 1; record: VerificationRecord } | { v: 1; tombstone: true; revision: number };

export function isTombstone(entry: EdgeEntry): entry is { v: 1; tombstone: true; revision: number } {
  return "tombstone" in entry;
}

/** True when the key's verify path must reach its Durable Object (limits or credits to apply). */
export function needsKeyState(record: VerificationRecord): boolean {
  return (
    record.credits !== undefined ||
    record.ratelimits.length > 0 ||
    (record.identity !== undefined && record.identity.ratelimits.length > 0)
  );
}

/** Validates an entry read back from KV; anything unexpected is treated as a miss and reloaded from D1. */
export function parseEdgeEntry(value: unknown): EdgeEntry | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.v !== 1) return null;
  if (v.tombstone === true && typeof v.revision === "number") return v as EdgeEntry;
  const r = v.record as Record<string, unknown> | undefined;
  if (
    r &&
    typeof r.keyId === "string" &&
    typeof r.workspaceId === "string" &&
    typeof r.keyspaceId === "string" &&
    typeof r.enabled === "boolean" &&
    typeof r.revision === "number" &&
    Array.isArray(r.permissions) &&
    Array.isArray(r.roles) &&
    Array.isArray(r.ratelimits) &&
    // An allow-list that is present but unreadable must not become "no allow-list" (fail closed): reload.
    (r.ipWhitelist === undefined || (Array.isArray(r.ipWhitelist) && r.ipWhitelist.every((c) => typeof c === "string")))
  ) {
    return v as EdgeEntry;
  }
  return null;
}
