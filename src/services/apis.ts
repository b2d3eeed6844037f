/**
 * APIs and their keyspaces. Every query is scoped by workspace: an API of another workspace is reported
 * exactly like a missing one.
 */
import { and, eq, gte, isNull } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { apis, identities, keys, keyspaces } from "../db/schema";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { EdgeRecords } from "./edge-records";
import { affectedKeyColumns, nextRevision, republishKeys } from "./key-fanout";
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

/**
 * The settings of an API that `apis.createApi` and `apis.updateApi` (Latch extension) accept. Omitted =
 * default on create, unchanged on update. Later settings (IP allow-list, delete protection, ...) join here;
 * any that changes verify answers must republish the API's keys in `update`.
 */
export type ApiSettings = {
  /** Keep encrypted copies of recoverable keys (the vault); lives on the API's keyspace. */
  storeEncryptedKeys?: boolean | undefined;
};

export type ApiServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; now: () => number };

export class ApiService {
  constructor(private readonly o: ApiServiceOptions) {}

  async create(workspaceId: string, name: string, settings: ApiSettings = {}): Promise<{ apiId: string }> {
    const now = this.o.now();
    const apiId = newId("api", now);
    const keyspaceId = newId("ks", now);
    await this.o.db.batch([
      this.o.db.insert(keyspaces).values({ id: keyspaceId, workspaceId, storeEncryptedKeys: settings.storeEncryptedKeys ?? false, createdAt: now }),
      this.o.db.insert(apis).values({ id: apiId, workspaceId, keyspaceId, name, createdAt: now }),
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
   * Changes the API's settings in one batch. None of today's settings changes a verify answer, so nothing
   * is republished. Turning `storeEncryptedKeys` off keeps the stored copies (turning it on again makes
   * them readable again) but refuses new recoverable keys and every decrypt.
   */
  async update(api: ApiWithKeyspace, settings: ApiSettings): Promise<void> {
    const { db } = this.o;
    const now = this.o.now();
    const stmts: Stmt[] = [db.update(apis).set({ updatedAt: now }).where(and(eq(apis.id, api.id), eq(apis.workspaceId, api.workspaceId)))];
    if (settings.storeEncryptedKeys !== undefined) {
      stmts.push(
        db
          .update(keyspaces)
          .set({ storeEncryptedKeys: settings.storeEncryptedKeys })
          .where(and(eq(keyspaces.id, api.keyspaceId), eq(keyspaces.workspaceId, api.workspaceId))),
      );
    }
    await db.batch(stmts as [Stmt, ...Stmt[]]);
  }

  /**
   * Soft-deletes the API and its keys, then, before returning, tombstones every key in KV and tells the
   * Durable Object of every key with limits or credits, so those see the revocation at once. Each key costs
   * one KV write (and one object call if it has state): an API with more keys than a Worker request may
   * make subrequests (1,000 on the paid plan) leaves the rest to expire from KV within five minutes.
   */
  async delete(api: ApiWithKeyspace): Promise<void> {
    const now = this.o.now();
    const live = and(eq(keys.keyspaceId, api.keyspaceId), isNull(keys.deletedAt));
    const [, , deleted] = await this.o.db.batch([
      this.o.db.update(apis).set({ deletedAt: now, updatedAt: now }).where(and(eq(apis.id, api.id), eq(apis.workspaceId, api.workspaceId))),
      this.o.db
        .update(keys)
        .set({ deletedAt: now, updatedAt: now, revision: nextRevision })
        .where(live),
      // Read in the same transaction as the update, so a key created concurrently is either deleted and
      // tombstoned here or created after the API is gone (and then never verifies: its API is deleted).
      this.o.db
        .select(affectedKeyColumns)
        .from(keys)
        .where(and(eq(keys.keyspaceId, api.keyspaceId), eq(keys.deletedAt, now))),
    ]);
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

