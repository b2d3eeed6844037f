/**
 * Identities: one customer of the workspace, with many keys and rate limits shared by all of them.
 *
 * Every key's verification record embeds its identity (externalId, meta, identity-level limits), so any
 * change that reaches a verify (meta, limits, deletion) is committed in one D1 batch together with a
 * revision bump of every key of the identity, and then each of those keys is republished to KV and, if its
 * verifies go through its Durable Object, the object learns the new revision (as `KeyService` does for one
 * key). Identity-level windows live in the RateLimiter object named by `identityLimiterName`; nothing here
 * touches them: a changed limit applies to the existing window from the next verify on.
 *
 * Audit: `identity.create|update|delete` go into the same batch (src/services/audit.ts). Update and delete
 * record themselves only if the identity still exists when the batch runs (a concurrent delete wins).
 */
import { and, asc, desc, eq, gte, inArray, isNull, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { identities, keys, ratelimits, type IdentityRow, type RatelimitRow } from "../db/schema";
import type { AuditContext, AuditEventName } from "../lib/audit";
import { ApiError, isUniqueViolation } from "../lib/errors";
import { newId } from "../lib/ids";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { parseMeta, toRatelimitConfig } from "./key-bundles";
import { affectedKeyColumns, nextRevision, republishKeys, type AffectedKey } from "./key-fanout";
import type { KeyStateClient } from "./key-state-client";
import type { IdentityView } from "./key-views";
import { insertRatelimit, replaceRatelimits, type RatelimitInput } from "./ratelimit-configs";

type Stmt = BatchItem<"sqlite">;

export type Identity = { row: IdentityRow; ratelimits: RatelimitRow[] };

export type CreateIdentityInput = {
  externalId: string;
  meta?: Record<string, unknown> | undefined;
  ratelimits?: RatelimitInput[] | undefined;
};

/** Omitted = unchanged; `meta: null` clears it; a `ratelimits` list replaces all of them (`[]` clears). */
export type UpdateIdentityInput = {
  meta?: Record<string, unknown> | null | undefined;
  ratelimits?: RatelimitInput[] | undefined;
};

export type IdentityServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; audit: AuditService; now: () => number };

export class IdentityService {
  constructor(private readonly o: IdentityServiceOptions) {}

  /** Creates the identity and its limits atomically; an externalId already in the workspace is a 409. */
  async create(input: CreateIdentityInput, ctx: AuditContext): Promise<{ identityId: string }> {
    const { db } = this.o;
    const { workspaceId } = ctx;
    const now = this.o.now();
    const identityId = newId("id", now);
    const events = this.o.audit.stage(ctx, [
      { event: "identity.create", resources: [{ type: "identity", id: identityId }], meta: { ratelimits: input.ratelimits?.length ?? 0 } },
    ]);
    const stmts: Stmt[] = [
      db.insert(identities).values({
        id: identityId,
        workspaceId,
        externalId: input.externalId,
        meta: input.meta ? JSON.stringify(input.meta) : null,
        createdAt: now,
      }),
      ...(input.ratelimits ?? []).map((rl) => insertRatelimit(this.o.db, workspaceId, { identityId }, rl, now)),
      ...events,
    ];
    try {
      // A plain insert, not a check-then-insert: the unique index decides races, and the failed batch
      // rolls back the limits with it.
      await db.batch(stmts as [Stmt, ...Stmt[]]);
    } catch (err) {
      if (isUniqueViolation(err, "identities")) {
        throw new ApiError("IDENTITY_ALREADY_EXISTS", `An identity with the externalId "${input.externalId}" already exists.`);
      }
      throw err;
    }
    return { identityId };
  }

  /**
   * The identity named by id or, failing that, by externalId, within the workspace; a 404 otherwise (the
   * same for another workspace's identity). An id match wins over an externalId that happens to equal it.
   */
  async find(workspaceId: string, identity: string): Promise<Identity> {
    const { db } = this.o;
    const match = and(eq(identities.workspaceId, workspaceId), or(eq(identities.id, identity), eq(identities.externalId, identity)));
    const byIdFirst = desc(sql`${identities.id} = ${identity}`);
    const ids = db.select({ id: identities.id }).from(identities).where(match).orderBy(byIdFirst).limit(1);
    const [rows, limits] = await db.batch([
      db.select().from(identities).where(match).orderBy(byIdFirst).limit(1),
      db.select().from(ratelimits).where(and(eq(ratelimits.workspaceId, workspaceId), inArray(ratelimits.identityId, ids))).orderBy(asc(ratelimits.name)),
    ]);
    const row = rows[0];
    if (!row) throw new ApiError("IDENTITY_NOT_FOUND", `The identity ${identity} does not exist.`);
    return { row, ratelimits: limits };
  }

  /** One page of the workspace's identities, oldest first, optionally those whose externalId contains `search`. */
  async list(
    workspaceId: string,
    opts: { limit: number; cursor?: string | undefined; search?: string | undefined },
  ): Promise<{ identities: Identity[]; cursor?: string }> {
    const { db } = this.o;
    const where = and(
      eq(identities.workspaceId, workspaceId),
      opts.cursor !== undefined ? gte(identities.id, opts.cursor) : undefined,
      // instr, not LIKE: D1 refuses LIKE patterns over 50 bytes, and `%`/`_` in a search are plain characters.
      opts.search ? sql`instr(lower(${identities.externalId}), lower(${opts.search})) > 0` : undefined,
    );
    const ids = db.select({ id: identities.id }).from(identities).where(where).orderBy(asc(identities.id)).limit(opts.limit + 1);
    const [rows, limits] = await db.batch([
      db.select().from(identities).where(where).orderBy(asc(identities.id)).limit(opts.limit + 1),
      db.select().from(ratelimits).where(and(eq(ratelimits.workspaceId, workspaceId), inArray(ratelimits.identityId, ids))).orderBy(asc(ratelimits.name)),
    ]);
    const next = rows.length > opts.limit ? rows.pop() : undefined;
    const page = rows.map((row) => ({ row, ratelimits: limits.filter((l) => l.identityId === row.id) }));
    return next ? { identities: page, cursor: next.id } : { identities: page };
  }

  /** Applies the patch, bumps and republishes every key of the identity, and returns the identity as stored. */
  async update(identity: Identity, input: UpdateIdentityInput, ctx: AuditContext): Promise<Identity> {
    if (input.meta === undefined && input.ratelimits === undefined) return identity;
    const { db } = this.o;
    const now = this.o.now();
    const { id, workspaceId } = identity.row;
    const fields = (["meta", "ratelimits"] as const).filter((f) => input[f] !== undefined);
    const set: Partial<typeof identities.$inferInsert> = { updatedAt: now };
    if (input.meta !== undefined) set.meta = input.meta === null ? null : JSON.stringify(input.meta);
    const changes: Stmt[] = [db.update(identities).set(set).where(and(eq(identities.id, id), eq(identities.workspaceId, workspaceId)))];
    if (input.ratelimits !== undefined) changes.push(...replaceRatelimits(this.o.db, workspaceId, { identityId: id }, input.ratelimits, now));
    const stmts: Stmt[] = [
      this.event(ctx, "identity.update", id, { fields }),
      ...changes,
      this.bumpKeys(workspaceId, id, now),
      this.selectKeys(workspaceId, id),
      db.select().from(identities).where(and(eq(identities.id, id), eq(identities.workspaceId, workspaceId))),
      db.select().from(ratelimits).where(and(eq(ratelimits.identityId, id), eq(ratelimits.workspaceId, workspaceId))).orderBy(asc(ratelimits.name)),
    ];
    // The changes vary in number; the three reads are always last.
    const results: unknown[] = await db.batch(stmts as [Stmt, ...Stmt[]]);
    const [affected, rows, limits] = results.slice(-3) as [AffectedKey[], IdentityRow[], RatelimitRow[]];
    await this.republish(workspaceId, affected, identity.ratelimits.length > 0);
    // Deleted between the lookup and the batch: report it as the next lookup would.
    if (!rows[0]) throw new ApiError("IDENTITY_NOT_FOUND", `The identity ${id} does not exist.`);
    return { row: rows[0], ratelimits: limits };
  }

  /**
   * Deletes the identity and its limits and unlinks its keys, which from then on verify without an
   * identity. Keys are read before the unlink, in the same transaction, so each one is republished.
   */
  async delete(identity: Identity, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const now = this.o.now();
    const { id, workspaceId } = identity.row;
    const ofIdentity = and(eq(keys.identityId, id), eq(keys.workspaceId, workspaceId));
    const [, , affected] = await db.batch([
      this.event(ctx, "identity.delete", id, {}),
      this.bumpKeys(workspaceId, id, now),
      this.selectKeys(workspaceId, id),
      db.update(keys).set({ identityId: null }).where(ofIdentity),
      db.delete(ratelimits).where(and(eq(ratelimits.identityId, id), eq(ratelimits.workspaceId, workspaceId))),
      db.delete(identities).where(and(eq(identities.id, id), eq(identities.workspaceId, workspaceId))),
    ]);
    await this.republish(workspaceId, affected, identity.ratelimits.length > 0);
  }

  /** The event of a change to identity `id`, recorded if the identity exists where it stands in the batch. */
  private event(ctx: AuditContext, event: AuditEventName, id: string, meta: Record<string, unknown>) {
    const entry = { event, resources: [{ type: "identity" as const, id }], meta, args: [id] };
    return this.o.audit.stage(ctx, [entry], ([identityId]) => sql`EXISTS (SELECT 1 FROM ${identities} WHERE ${identities.id} = ${identityId})`)[0]!;
  }

  /** Every key of the identity gets a new revision, so records built before the change are stale. */
  private bumpKeys(workspaceId: string, identityId: string, now: number): Stmt {
    return this.o.db
      .update(keys)
      .set({ revision: nextRevision, updatedAt: now })
      .where(and(eq(keys.identityId, identityId), eq(keys.workspaceId, workspaceId)));
  }

  /** The live keys of the identity, with their (already bumped) revisions. */
  private selectKeys(workspaceId: string, identityId: string) {
    return this.o.db
      .select(affectedKeyColumns)
      .from(keys)
      .where(and(eq(keys.identityId, identityId), eq(keys.workspaceId, workspaceId), isNull(keys.deletedAt)));
  }

  /**
   * Publishes each key's new record. Keys whose verifies went through their object before the change (own
   * state, or limits of this identity) tell the object the new revision first, so a stale record elsewhere
   * is refused by the object at once instead of lasting until its KV entry expires.
   */
  private republish(workspaceId: string, affected: AffectedKey[], identityHadLimits: boolean): Promise<void> {
    return republishKeys(this.o, workspaceId, affected, { bumpAll: identityHadLimits });
  }
}

/** The wire shape: absent meta and an empty limit list are omitted, never null. */
export function toIdentityView(identity: Identity): IdentityView {
  const view: IdentityView = { id: identity.row.id, externalId: identity.row.externalId };
  const meta = parseMeta(identity.row.meta);
  if (meta) view.meta = meta;
  if (identity.ratelimits.length > 0) view.ratelimits = identity.ratelimits.map(toRatelimitConfig);
  return view;
}

