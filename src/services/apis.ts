/**
 * APIs and their keyspaces. Every query is scoped by workspace: an API of another workspace is reported
 * exactly like a missing one.
 */
import { and, eq, gte, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { apis, identities, keys, keyspaces } from "../db/schema";
import type { AuditContext, AuditResource } from "../lib/audit";
import { parseCidrList } from "../lib/cidr";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { affectedKeyColumns, nextRevision, republishKeys, type AffectedKey } from "./key-fanout";
import type { KeyStateClient } from "./key-state-client";
import { loadKeyBundles, type KeyBundle } from "./key-bundles";

type Stmt = BatchItem<"sqlite">;

export type ApiWithKeyspace = typeof apis.$inferSelect & { keyspace: typeof keyspaces.$inferSelect };

/**
 * Recoverable keys need an API that stores encrypted keys (the vault). Until an API opts in, asking to
 * store or read back a plaintext is a precondition failure, never a silent no-op.
 */
export function requireEncryptedKeys(api: ApiWithKeyspace): void {
  if (!api.keyspace.storeEncryptedKeys) {
    throw new ApiError("PRECONDITION_FAILED", `The API ${api.id} does not store encrypted keys, so keys cannot be recovered from it.`);
  }
}

/** What a leaked-key report (GitHub secret scanning) does to a key of the API. */
export const LEAKED_KEY_ACTIONS = ["revoke", "disable"] as const;
export type LeakedKeyAction = (typeof LEAKED_KEY_ACTIONS)[number];

/**
 * The settings of an API that `apis.createApi` and `apis.updateApi` (Latch extension) accept. Omitted =
 * default on create, unchanged on update. Any setting that changes verify answers must republish the API's
 * keys in `update` (today: `ipWhitelist`).
 */
export type ApiSettings = {
  /** Keep encrypted copies of recoverable keys (the vault); lives on the API's keyspace. */
  storeEncryptedKeys?: boolean | undefined;
  /** CIDR ranges (v4, v6) verifies must come from; `null` or `[]` = from anywhere. */
  ipWhitelist?: readonly string[] | null | undefined;
  /** A protected API cannot be deleted (412), nor its keys deleted in bulk. */
  deleteProtection?: boolean | undefined;
  leakedKeyAction?: LeakedKeyAction | undefined;
};

/** The Latch extension fields of `apis.getApi`: only settings that differ from the default are listed. */
export type ApiSettingsView = { ipWhitelist?: string[]; deleteProtection?: true; leakedKeyAction?: "disable" };

export function apiSettingsView(api: ApiWithKeyspace): ApiSettingsView {
  const view: ApiSettingsView = {};
  if (api.ipWhitelist !== null) view.ipWhitelist = api.ipWhitelist.split(",");
  if (api.deleteProtection) view.deleteProtection = true;
  if (api.leakedKeyAction === "disable") view.leakedKeyAction = "disable";
  return view;
}

/**
 * The stored form of an allow-list: canonical ranges joined by commas, or null for none. The route has
 * validated the list already; an invalid one here is still a 400 naming each bad entry.
 */
export function storedIpWhitelist(list: readonly string[] | null): string | null {
  if (list === null || list.length === 0) return null;
  const parsed = parseCidrList(list);
  if (!parsed.ok) {
    const errors = parsed.errors.map((e) => ({ location: e.index < 0 ? "body.ipWhitelist" : `body.ipWhitelist[${e.index}]`, message: e.message }));
    throw new ApiError("INVALID_INPUT", `${errors[0]!.location}: ${errors[0]!.message}`, errors);
  }
  return parsed.canonical.join(",");
}

export type ApiServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; audit: AuditService; now: () => number };

/** The resources an API's events name: the API and its keyspace. */
function apiResources(api: { id: string; keyspaceId: string }): AuditResource[] {
  return [
    { type: "api", id: api.id },
    { type: "keySpace", id: api.keyspaceId },
  ];
}

export class ApiService {
  constructor(private readonly o: ApiServiceOptions) {}

  async create(name: string, settings: ApiSettings, ctx: AuditContext): Promise<{ apiId: string }> {
    const now = this.o.now();
    const { workspaceId } = ctx;
    const apiId = newId("api", now);
    const keyspaceId = newId("ks", now);
    const meta = { storeEncryptedKeys: settings.storeEncryptedKeys ?? false };
    await this.o.db.batch([
      this.o.db.insert(keyspaces).values({ id: keyspaceId, workspaceId, storeEncryptedKeys: meta.storeEncryptedKeys, createdAt: now }),
      this.o.db.insert(apis).values({ id: apiId, workspaceId, keyspaceId, name, createdAt: now }),
      ...this.o.audit.stage(ctx, [{ event: "api.create", resources: apiResources({ id: apiId, keyspaceId }), meta }]),
    ]);
    return { apiId };
  }

  /** The live API with its keyspace, or a 404 (missing, deleted, or another workspace's). */
  async get(workspaceId: string, apiId: string): Promise<ApiWithKeyspace> {
    const rows = await this.o.db
      .select({ api: apis, keyspace: keyspaces })
      .from(apis)
      .innerJoin(keyspaces, eq(keyspaces.id, apis.keyspaceId))
      .where(and(eq(apis.id, apiId), eq(apis.workspaceId, workspaceId), isNull(apis.deletedAt)))
      .limit(1);
    const row = rows[0];
    if (!row) throw new ApiError("API_NOT_FOUND", `The API ${apiId} does not exist.`);
    return { ...row.api, keyspace: row.keyspace };
  }

  /**
   * Changes the API's settings in one batch. Turning `storeEncryptedKeys` off keeps the stored copies
   * (turning it on again makes them readable again) but refuses new recoverable keys and every decrypt.
   *
   * The IP allow-list travels in every key's verification record, so changing it bumps the revision of
   * every live key of the API in the same batch (read back in the same transaction) and republishes them
   * before returning: the next verify on this isolate, and on any other once KV and its cache catch up (the
   * revocation bound), sees the new list; keys with limits or credits see it at once through their object.
   * As for `delete`, an API with more keys than a request may make subrequests leaves the rest to expire
   * from KV (five minutes).
   */
  async update(api: ApiWithKeyspace, settings: ApiSettings, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const now = this.o.now();
    const set: Partial<typeof apis.$inferInsert> = { updatedAt: now };
    if (settings.ipWhitelist !== undefined) set.ipWhitelist = storedIpWhitelist(settings.ipWhitelist);
    if (settings.deleteProtection !== undefined) set.deleteProtection = settings.deleteProtection;
    if (settings.leakedKeyAction !== undefined) set.leakedKeyAction = settings.leakedKeyAction;
    const meta = settingsMeta(settings, set.ipWhitelist);
    const stmts: Stmt[] = [
      db.update(apis).set(set).where(and(eq(apis.id, api.id), eq(apis.workspaceId, api.workspaceId))),
      // An update that names no setting changes nothing worth an event.
      ...(meta.fields.length > 0 ? this.o.audit.stage(ctx, [{ event: "api.update", resources: apiResources(api), meta }]) : []),
    ];
    if (settings.storeEncryptedKeys !== undefined) {
      stmts.push(
        db
          .update(keyspaces)
          .set({ storeEncryptedKeys: settings.storeEncryptedKeys })
          .where(and(eq(keyspaces.id, api.keyspaceId), eq(keyspaces.workspaceId, api.workspaceId))),
      );
    }
    const republish = settings.ipWhitelist !== undefined;
    if (republish) {
      const live = and(eq(keys.keyspaceId, api.keyspaceId), eq(keys.workspaceId, api.workspaceId), isNull(keys.deletedAt));
      stmts.push(db.update(keys).set({ revision: nextRevision }).where(live), db.select(affectedKeyColumns).from(keys).where(live));
    }
    const results = await db.batch(stmts as [Stmt, ...Stmt[]]);
    if (republish) await republishKeys(this.o, api.workspaceId, results[results.length - 1] as AffectedKey[]);
  }

  /**
   * Soft-deletes the API and its keys, then, before returning, tombstones every key in KV and tells the
   * Durable Object of every key with limits or credits, so those see the revocation at once. Each key costs
   * one KV write (and one object call if it has state): an API with more keys than a Worker request may
   * make subrequests (1,000 on the paid plan) leaves the rest to expire from KV within five minutes.
   *
   * A delete-protected API is a 412 and nothing changes. The protection is also a condition of the batch's
   * statements, so protection turned on concurrently still wins: the keys are only marked when the API row
   * itself was. Any future bulk key delete (by API or keyspace) must check `deleteProtection` the same way.
   */
  async delete(api: ApiWithKeyspace, ctx: AuditContext): Promise<void> {
    if (api.deleteProtection) throw protectedApi(api.id);
    const { db } = this.o;
    const now = this.o.now();
    const live = and(eq(keys.keyspaceId, api.keyspaceId), isNull(keys.deletedAt));
    const deletedHere = sql`EXISTS (SELECT 1 FROM apis WHERE id = ${api.id} AND deleted_at = ${now})`;
    // Guarded like the keys' update: recorded exactly when the API row is deleted by this batch.
    const events = this.o.audit.stage(ctx, [{ event: "api.delete", resources: apiResources(api) }], () => deletedHere);
    const [marked, , deleted] = await db.batch([
      db
        .update(apis)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(apis.id, api.id), eq(apis.workspaceId, api.workspaceId), isNull(apis.deletedAt), eq(apis.deleteProtection, false)))
        .returning({ id: apis.id }),
      db
        .update(keys)
        .set({ deletedAt: now, updatedAt: now, revision: nextRevision })
        .where(and(live, deletedHere)),
      // Read in the same transaction as the update, so a key created concurrently is either deleted and
      // tombstoned here or created after the API is gone (and then never verifies: its API is deleted).
      db
        .select(affectedKeyColumns)
        .from(keys)
        .where(and(eq(keys.keyspaceId, api.keyspaceId), eq(keys.deletedAt, now))),
      ...events,
    ]);
    if (marked.length === 0) {
      // Deleted or protected since it was read: report the API as it is now (404, or 412).
      throw protectedApi((await this.get(api.workspaceId, api.id)).id);
    }
    await republishKeys(this.o, api.workspaceId, deleted, { tombstone: true });
  }

  /** One page of the API's live keys, oldest first, optionally only those of one identity. */
  async listKeys(
    api: ApiWithKeyspace,
    opts: { limit: number; cursor?: string | undefined; externalId?: string | undefined; revalidate?: boolean },
  ): Promise<{ bundles: KeyBundle[]; cursor?: string }> {
    let identityId: string | undefined;
    if (opts.externalId !== undefined) {
      const [identity] = await this.o.db
        .select({ id: identities.id })
        .from(identities)
        .where(and(eq(identities.workspaceId, api.workspaceId), eq(identities.externalId, opts.externalId)))
        .limit(1);
      if (!identity) return { bundles: [] };
      identityId = identity.id;
    }
    const where = and(
      eq(keys.keyspaceId, api.keyspaceId),
      eq(keys.workspaceId, api.workspaceId),
      isNull(keys.deletedAt),
      opts.cursor !== undefined ? gte(keys.id, opts.cursor) : undefined,
      identityId !== undefined ? eq(keys.identityId, identityId) : undefined,
    );
    const bundles = await loadKeyBundles(this.o.db, where, opts.limit + 1);
    const next = bundles.length > opts.limit ? bundles.pop() : undefined;
    if (opts.revalidate) {
      // The records are rebuilt from D1 as they are: no revision changes, so no object needs telling.
      const listed = bundles.map((b) => ({ id: b.key.id, hash: b.key.hash, revision: b.key.revision, hasState: false }));
      await republishKeys(this.o, api.workspaceId, listed);
    }
    return next ? { bundles, cursor: next.key.id } : { bundles };
  }
}

function protectedApi(apiId: string): ApiError {
  return new ApiError(
    "PROTECTED_RESOURCE",
    `The API ${apiId} is delete-protected. Turn deleteProtection off with apis.updateApi before deleting it.`,
  );
}

/**
 * `api.update`'s meta: the settings given and their new values. All are booleans, enums or canonical CIDR
 * text (never free text, so nothing in them can look like a key).
 */
function settingsMeta(settings: ApiSettings, storedList: string | null | undefined): { fields: string[] } & Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (settings.storeEncryptedKeys !== undefined) meta.storeEncryptedKeys = settings.storeEncryptedKeys;
  if (storedList !== undefined) meta.ipWhitelist = storedList === null ? null : storedList.split(",");
  if (settings.deleteProtection !== undefined) meta.deleteProtection = settings.deleteProtection;
  if (settings.leakedKeyAction !== undefined) meta.leakedKeyAction = settings.leakedKeyAction;
  return { fields: Object.keys(meta), ...meta };
}
