/**
 * Root-key management (a Latch extension; Unkey offers it only in its dashboard). A root key is an ordinary
 * key in the internal keyspace (`ks_latch_root` of `ws_latch_internal`) with `for_workspace_id` set to the
 * workspace it administers; its permissions are permission rows of the internal workspace linked by
 * keys_permissions. Rows are written by `rootKeyPlan`, the same plan `npm run bootstrap` runs, so keys made
 * here and by the operator's script are indistinguishable.
 *
 * Every query is scoped to the caller's workspace through `for_workspace_id`: another workspace's root key,
 * and any customer key, look exactly like a missing one.
 *
 * Audit: `rootKey.create` / `rootKey.delete` go into the log of the workspace the root key administers,
 * in the batch of the change (the raw plan statements and the outbox INSERT share one `D1Database.batch`).
 */
import { and, asc, eq, exists, gte, inArray, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { apis, keys, keysPermissions, permissions, ratelimitNamespaces } from "../db/schema";
import { INTERNAL_WORKSPACE_ID, ROOT_KEYSPACE_ID, internalWorkspaceStatements, rootKeyPlan } from "../lib/bootstrap";
import type { AuditContext } from "../lib/audit";
import { ApiError, type FieldError } from "../lib/errors";
import { notGrantable, type RootTuple } from "../lib/root-permissions";
import type { Principal } from "../lib/verify";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { nextRevision } from "./key-fanout";
import { chunks } from "./rbac-core";

export type RootKeyView = { keyId: string; start: string; name?: string; createdAt: number; permissions: string[] };

export type CreateRootKeyInput = { name?: string | undefined; permissions: readonly RootTuple[] };

/** `d1` runs the plan's raw statements (shared with the bootstrap script) in one batch; `db` does the rest. */
export type RootKeyServiceOptions = { db: Db; d1: D1Database; edge: EdgeRecords; audit: AuditService; now: () => number };

/** Permissions an event lists (the count is always there): keeps a 1,000-permission key's event small. */
const EVENT_PERMISSIONS = 50;

export class RootKeyService {
  constructor(private readonly o: RootKeyServiceOptions) {}

  /**
   * Creates a root key for the caller's workspace. Refused with 403 unless the caller holds every requested
   * permission (exactly, or through its wildcard of the same type and action), and with 400 if a permission
   * names an API or rate-limit namespace the workspace does not have (a grant that could never apply).
   */
  async create(caller: Principal, input: CreateRootKeyInput, ctx: AuditContext): Promise<{ keyId: string; key: string }> {
    const refused = notGrantable(caller.permissions, input.permissions);
    if (refused.length > 0) {
      const named = refused.length > 20 ? `${refused.slice(0, 20).join(", ")} and ${refused.length - 20} more` : refused.join(", ");
      throw new ApiError("INSUFFICIENT_PERMISSIONS", `This root key may not grant permissions it does not hold: ${named}.`);
    }
    await this.requireResources(caller.workspaceId, input.permissions);
    const now = this.o.now();
    const plan = await rootKeyPlan({
      workspaceId: caller.workspaceId,
      permissions: input.permissions.map((t) => `${t.type}.${t.id}.${t.action}`),
      name: input.name,
      now,
    });
    const granted = input.permissions.map((t) => `${t.type}.${t.id}.${t.action}`);
    const meta = { permissions: granted.slice(0, EVENT_PERMISSIONS), permissionCount: granted.length };
    const events = this.o.audit.stage(ctx, [{ event: "rootKey.create", resources: [{ type: "rootKey", id: plan.keyId }], meta }]).map((q) => q.toSQL());
    const { d1 } = this.o;
    // One batch, one transaction: the key never exists without its permissions, nor without its record.
    await d1.batch([...internalWorkspaceStatements(now), ...plan.statements, ...events].map((s) => d1.prepare(s.sql).bind(...s.params)));
    // As for any new key: only a negative entry this isolate may hold for the hash must go.
    this.o.edge.evict(plan.hash);
    return { keyId: plan.keyId, key: plan.rootKey };
  }

  /** The workspace's live root keys, oldest first, with their permissions. */
  async list(workspaceId: string, opts: { limit: number; cursor?: string | undefined }): Promise<{ keys: RootKeyView[]; cursor?: string }> {
    const { db } = this.o;
    const where = and(ofWorkspace(workspaceId), isNull(keys.deletedAt), opts.cursor !== undefined ? gte(keys.id, opts.cursor) : undefined);
    const ids = db.select({ id: keys.id }).from(keys).where(where).orderBy(asc(keys.id)).limit(opts.limit + 1);
    const [rows, perms] = await db.batch([
      db
        .select({ id: keys.id, start: keys.start, name: keys.name, createdAt: keys.createdAt })
        .from(keys)
        .where(where)
        .orderBy(asc(keys.id))
        .limit(opts.limit + 1),
      db
        .select({ keyId: keysPermissions.keyId, slug: permissions.slug })
        .from(keysPermissions)
        .innerJoin(permissions, eq(permissions.id, keysPermissions.permissionId))
        .where(and(eq(keysPermissions.workspaceId, INTERNAL_WORKSPACE_ID), inArray(keysPermissions.keyId, ids))),
    ]);
    const next = rows.length > opts.limit ? rows.pop() : undefined;
    const views = rows.map((r): RootKeyView => {
      const slugs = perms.filter((p) => p.keyId === r.id).map((p) => p.slug).sort();
      return { keyId: r.id, start: r.start, ...(r.name !== null ? { name: r.name } : {}), createdAt: r.createdAt, permissions: slugs };
    });
    return next ? { keys: views, cursor: next.id } : { keys: views };
  }

  /**
   * Revokes a root key of the workspace at once: the row is soft-deleted (one conditional statement, so
   * two concurrent deletes cannot both succeed) and a tombstone is published before returning, so the very
   * next request with the key is a 401 on this isolate and, through KV, on any other.
   */
  async delete(keyId: string, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const now = this.o.now();
    const live = and(eq(keys.id, keyId), ofWorkspace(ctx.workspaceId), isNull(keys.deletedAt));
    // The event first, guarded by the same condition as the delete: recorded exactly when the key goes.
    const [event] = this.o.audit.stage(ctx, [{ event: "rootKey.delete", resources: [{ type: "rootKey", id: keyId }] }], () =>
      exists(db.select({ one: sql`1` }).from(keys).where(live)),
    );
    const [, [row]] = await db.batch([
      event!,
      db.update(keys).set({ deletedAt: now, updatedAt: now, revision: nextRevision }).where(live).returning({ hash: keys.hash, revision: keys.revision }),
    ]);
    if (!row) throw new ApiError("KEY_NOT_FOUND", `The root key ${keyId} does not exist.`);
    await this.o.edge.publish(row.hash, row.revision);
  }

  /** 400 naming every permission whose API or namespace is not a live one of the workspace. */
  private async requireResources(workspaceId: string, tuples: readonly RootTuple[]): Promise<void> {
    const apiIds = [...new Set(tuples.filter((t) => t.type === "api" && t.id !== "*").map((t) => t.id))];
    const nsIds = [...new Set(tuples.filter((t) => t.type === "ratelimit" && t.id !== "*").map((t) => t.id))];
    if (apiIds.length === 0 && nsIds.length === 0) return;
    const { db } = this.o;
    const queries = [
      ...chunks(apiIds).map((part) =>
        db.select({ id: apis.id }).from(apis).where(and(eq(apis.workspaceId, workspaceId), inArray(apis.id, part), isNull(apis.deletedAt))),
      ),
      ...chunks(nsIds).map((part) =>
        db
          .select({ id: ratelimitNamespaces.id })
          .from(ratelimitNamespaces)
          .where(and(eq(ratelimitNamespaces.workspaceId, workspaceId), inArray(ratelimitNamespaces.id, part), isNull(ratelimitNamespaces.deletedAt))),
      ),
    ];
    const found = new Set((await db.batch(queries as [(typeof queries)[number], ...(typeof queries)[number][]])).flat().map((r) => r.id));
    const errors: FieldError[] = [];
    tuples.forEach((t, i) => {
      if (t.id === "*" || found.has(t.id)) return;
      const what = t.type === "api" ? "API" : "rate-limit namespace";
      errors.push({ location: `body.permissions[${i}]`, message: `the ${what} ${t.id} does not exist` });
    });
    if (errors.length > 0) throw new ApiError("INVALID_INPUT", `${errors[0]!.location}: ${errors[0]!.message}.`, errors);
  }
}

/** Root keys administering `workspaceId` (root keys live in the internal workspace's keyspace). */
function ofWorkspace(workspaceId: string) {
  return and(eq(keys.workspaceId, INTERNAL_WORKSPACE_ID), eq(keys.keyspaceId, ROOT_KEYSPACE_ID), eq(keys.forWorkspaceId, workspaceId));
}
