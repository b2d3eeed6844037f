/**
 * Loading keys with everything hung on them (API, identity, limits, permissions, roles) in one D1 round trip:
 * the key rows are selected by a filter, and each related table is read with the same filter as a subquery,
 * all in one `db.batch`. Used by the cold verify path, by getKey/whoami/listKeys, and after every mutation
 * to rebuild the key's verification record.
 */
import { and, asc, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/client";
import {
  apis,
  identities,
  keys,
  keysPermissions,
  keysRoles,
  permissions,
  ratelimits,
  roles,
  rolesPermissions,
  type IdentityRow,
  type KeyRow,
  type RatelimitRow,
} from "../db/schema";
import type { RatelimitConfig, VerificationRecord } from "../lib/record";
import type { CreditState } from "../lib/usage";

export type KeyBundle = {
  key: KeyRow;
  apiId: string | undefined;
  apiDeleted: boolean;
  /** The API's allow-list column (comma-separated canonical CIDRs), or null for none. */
  apiIpWhitelist: string | null;
  identity: IdentityRow | undefined;
  keyRatelimits: RatelimitRow[];
  identityRatelimits: RatelimitRow[];
  permissions: string[];
  roles: string[];
};

/** Loads the keys matching `where` (ordered by id, at most `limit`), with their related rows. */
export async function loadKeyBundles(db: Db, where: SQL | undefined, limit = 1): Promise<KeyBundle[]> {
  const ids = db.select({ id: keys.id }).from(keys).where(where).orderBy(asc(keys.id)).limit(limit);
  const identityIds = db.select({ id: keys.identityId }).from(keys).where(where).orderBy(asc(keys.id)).limit(limit);
  const [keyRows, identityRows, keyLimitRows, identityLimitRows, directPerms, rolePerms, roleRows] = await db.batch([
    db
      // Aliased: D1 batches return rows keyed by column name, so a second `id` or `deleted_at` would
      // overwrite the key's own.
      .select({
        key: keys,
        apiId: sql<string | null>`${apis.id}`.as("api_id"),
        apiDeletedAt: sql<number | null>`${apis.deletedAt}`.as("api_deleted_at"),
        apiIpWhitelist: sql<string | null>`${apis.ipWhitelist}`.as("api_ip_whitelist"),
      })
      .from(keys)
      .leftJoin(apis, eq(apis.keyspaceId, keys.keyspaceId))
      .where(where)
      .orderBy(asc(keys.id))
      .limit(limit),
    db.select().from(identities).where(inArray(identities.id, identityIds)),
    db.select().from(ratelimits).where(inArray(ratelimits.keyId, ids)).orderBy(asc(ratelimits.name)),
    db.select().from(ratelimits).where(inArray(ratelimits.identityId, identityIds)).orderBy(asc(ratelimits.name)),
    db
      .select({ keyId: keysPermissions.keyId, slug: permissions.slug })
      .from(keysPermissions)
      .innerJoin(permissions, eq(permissions.id, keysPermissions.permissionId))
      .where(inArray(keysPermissions.keyId, ids)),
    db
      .select({ keyId: keysRoles.keyId, slug: permissions.slug })
      .from(keysRoles)
      .innerJoin(rolesPermissions, eq(rolesPermissions.roleId, keysRoles.roleId))
      .innerJoin(permissions, eq(permissions.id, rolesPermissions.permissionId))
      .where(inArray(keysRoles.keyId, ids)),
    db
      .select({ keyId: keysRoles.keyId, name: roles.name })
      .from(keysRoles)
      .innerJoin(roles, eq(roles.id, keysRoles.roleId))
      .where(inArray(keysRoles.keyId, ids)),
  ]);

  return keyRows.map(({ key, apiId, apiDeletedAt, apiIpWhitelist }) => {
    const slugs = new Set<string>();
    for (const p of directPerms) if (p.keyId === key.id) slugs.add(p.slug);
    for (const p of rolePerms) if (p.keyId === key.id) slugs.add(p.slug);
    return {
      key,
      apiId: apiId ?? undefined,
      apiDeleted: apiDeletedAt !== null && apiDeletedAt !== undefined,
      apiIpWhitelist: apiIpWhitelist ?? null,
      identity: key.identityId ? identityRows.find((i) => i.id === key.identityId) : undefined,
      keyRatelimits: keyLimitRows.filter((r) => r.keyId === key.id),
      identityRatelimits: key.identityId ? identityLimitRows.filter((r) => r.identityId === key.identityId) : [],
      permissions: [...slugs].sort(),
      roles: roleRows.filter((r) => r.keyId === key.id).map((r) => r.name).sort(),
    };
  });
}

export async function loadKeyBundleByHash(db: Db, hash: string): Promise<KeyBundle | undefined> {
  return (await loadKeyBundles(db, eq(keys.hash, hash)))[0];
}

/** A live (not deleted) key of the workspace, or undefined: another workspace's key looks exactly missing. */
export async function loadKeyBundleById(db: Db, workspaceId: string, keyId: string): Promise<KeyBundle | undefined> {
  const bundle = (
    await loadKeyBundles(db, and(eq(keys.id, keyId), eq(keys.workspaceId, workspaceId), isNull(keys.deletedAt)))
  )[0];
  return bundle && !bundle.apiDeleted ? bundle : undefined;
}

export function parseMeta(text: string | null): Record<string, unknown> | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function toRatelimitConfig(row: RatelimitRow): RatelimitConfig {
  return { id: row.id, name: row.name, limit: row.limit, duration: row.duration, autoApply: row.autoApply };
}

/** The verification record of a live key; null when the key or its API is deleted. */
export function toVerificationRecord(b: KeyBundle): VerificationRecord | null {
  const k = b.key;
  if (k.deletedAt !== null || b.apiDeleted) return null;
  const record: VerificationRecord = {
    keyId: k.id,
    workspaceId: k.workspaceId,
    keyspaceId: k.keyspaceId,
    enabled: k.enabled,
    permissions: b.permissions,
    roles: b.roles,
    ratelimits: b.keyRatelimits.map(toRatelimitConfig),
    revision: k.revision,
  };
  if (b.apiId) record.apiId = b.apiId;
  // Stored canonical by apis.updateApi; an entry that does not parse matches nothing (fail closed).
  if (b.apiIpWhitelist !== null) record.ipWhitelist = b.apiIpWhitelist.split(",");
  if (k.forWorkspaceId) record.forWorkspaceId = k.forWorkspaceId;
  if (k.name !== null) record.name = k.name;
  const meta = parseMeta(k.meta);
  if (meta) record.meta = meta;
  if (k.expires !== null) record.expires = k.expires;
  if (b.identity) {
    const identityMeta = parseMeta(b.identity.meta);
    record.identity = {
      id: b.identity.id,
      externalId: b.identity.externalId,
      ratelimits: b.identityRatelimits.map(toRatelimitConfig),
      ...(identityMeta ? { meta: identityMeta } : {}),
    };
  }
  const credits = rowCredits(k);
  if (credits) record.credits = credits;
  return record;
}

/** The balance D1 mirrors for a key (the seed of its object), or null for an unlimited key. */
export function rowCredits(k: KeyRow): CreditState | null {
  if (k.creditsRemaining === null) return null;
  const refill = k.refillAmount !== null ? { amount: k.refillAmount, ...(k.refillDay !== null ? { refillDay: k.refillDay } : {}) } : undefined;
  return { remaining: k.creditsRemaining, lastRefillAt: k.lastRefillAt ?? k.createdAt, ...(refill ? { refill } : {}) };
}
