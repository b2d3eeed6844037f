/**
 * Attaching permissions and roles to one key: keys.add/set/removePermissions, keys.add/set/removeRoles, and
 * the grants keys.createKey makes in its own batch.
 *
 * Every change is one D1 batch (one transaction) that writes the links, bumps the key's revision, and reads
 * back both the key (for `republishKeys`) and the key's direct permissions or roles, so the answer is the
 * state that batch left. Then the key's edge record is rebuilt from D1 and its Durable Object told, before
 * the request returns: the very next verify anywhere that misses the isolate cache sees the change.
 *
 * Permissions are named by slug or id (Unkey's handlers accept both); a name that is neither is, for add and
 * set, a new slug to create (which needs `rbac.*.create_permission`, checked before anything is written),
 * and for remove a 404. Roles are named by id or name and must exist (404 before anything is written).
 * Links are inserted with INSERT … SELECT from the workspace's own rows, so nothing of another workspace can
 * ever be linked, and a permission or role deleted meanwhile is simply not linked.
 *
 * Audit: every link made or removed is one `authorization.connect_*` / `disconnect_*` event (and every slug
 * created one `permission.create`), staged in the same batch and guarded so that it is inserted exactly
 * when its change happens: a connect event just before its link insert, if the target exists and the link
 * does not yet; a disconnect event just before its delete, if the link exists. `set*` removes only the links
 * it read before the batch (each with its event): a link added concurrently survives, as if added after.
 */
import { and, asc, eq, inArray, or, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { keys, keysPermissions, keysRoles, permissions, roles, rolesPermissions } from "../db/schema";
import type { AuditContext } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { grantsFor, hasAny } from "../lib/root-permissions";
import type { Principal } from "../lib/verify";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { affectedKeyColumns, nextRevision, republishKeys, type AffectedKey } from "./key-fanout";
import type { KeyBundle } from "./key-bundles";
import type { KeyStateClient } from "./key-state-client";
import {
  chunks,
  createPermissionStatements,
  newPermissions,
  permissionsCreatedEvents,
  resolveRoles,
  toPermissionView,
  type NewPermission,
  type PermissionView,
  type RoleView,
} from "./rbac-core";

type Stmt = BatchItem<"sqlite">;
type PermissionRow = typeof permissions.$inferSelect;

/** Names per statement when a list is matched against two columns (D1 caps bound parameters at 100). */
const REF_CHUNK = 45;


/**
 * What keys.createKey attaches: the ids of the permissions named (slug or id) that exist, the permissions
 * to create (ids chosen now) and role ids. Everything is linked by id.
 */
export type KeyGrants = { permissionIds: string[]; create: NewPermission[]; roleIds: string[] };

export type KeyRbacServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; audit: AuditService; now: () => number };

type Target = "permission" | "role";

export class KeyRbacService {
  constructor(private readonly o: KeyRbacServiceOptions) {}

  /**
   * keys.createKey's permissions and roles, checked before the key exists: a role that does not exist is a
   * 404, a slug that does not exist needs `create_permission` (403). The statements come from `grantStatements`.
   */
  async resolveGrants(principal: Principal, input: { permissions?: string[] | undefined; roles?: string[] | undefined }): Promise<KeyGrants> {
    const roleIds = (await resolveRoles(this.o.db, principal.workspaceId, input.roles ?? [])).map((r) => r.id);
    const { found, missing } = await findPermissionRefs(this.o.db, principal.workspaceId, unique(input.permissions ?? []));
    if (missing.length > 0) requireCreate(principal, missing);
    return { permissionIds: unique(found.map((p) => p.id)), create: newPermissions(missing, this.o.now()), roleIds };
  }

  /** Adds direct permissions; returns the key's direct permissions after the change. */
  async addPermissions(principal: Principal, bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<PermissionView[]> {
    const { ids, create } = await this.wantedPermissions(principal, bundle, refs);
    return this.commitPermissions(bundle, ctx, { create, remove: [], add: [...ids, ...create.map((p) => p.id)] });
  }

  /** Replaces the key's direct permissions (permissions through roles stay); `[]` removes them all. */
  async setPermissions(principal: Principal, bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<PermissionView[]> {
    const { ids, create } = await this.wantedPermissions(principal, bundle, refs);
    const wanted = new Set(ids);
    const current = await this.linked("permission", bundle.key.id);
    return this.commitPermissions(bundle, ctx, { create, remove: current.filter((id) => !wanted.has(id)), add: [...ids, ...create.map((p) => p.id)] });
  }

  /**
   * Removes direct permissions (permissions through roles stay). A name that is no permission of the
   * workspace is a 404, as in Unkey; one the key does not hold is ignored.
   */
  async removePermissions(bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<PermissionView[]> {
    const { found, missing } = await findPermissionRefs(this.o.db, bundle.key.workspaceId, unique(refs));
    if (missing.length > 0) throw new ApiError("PERMISSION_NOT_FOUND", `The permission ${missing[0]} does not exist.`);
    return this.commitPermissions(bundle, ctx, { create: [], remove: unique(found.map((p) => p.id)), add: [] });
  }

  /** Adds roles (which must exist); returns the key's roles after the change. */
  async addRoles(bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<RoleView[]> {
    const roleIds = (await resolveRoles(this.o.db, bundle.key.workspaceId, refs)).map((r) => r.id);
    return this.commitRoles(bundle, ctx, { remove: [], add: roleIds });
  }

  /** Replaces the key's roles; `[]` removes them all. */
  async setRoles(bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<RoleView[]> {
    const roleIds = (await resolveRoles(this.o.db, bundle.key.workspaceId, refs)).map((r) => r.id);
    const wanted = new Set(roleIds);
    const current = await this.linked("role", bundle.key.id);
    return this.commitRoles(bundle, ctx, { remove: current.filter((id) => !wanted.has(id)), add: roleIds });
  }

  /** Removes roles (which must exist: an unknown one is a 404); one the key does not hold is ignored. */
  async removeRoles(bundle: KeyBundle, refs: string[], ctx: AuditContext): Promise<RoleView[]> {
    const roleIds = (await resolveRoles(this.o.db, bundle.key.workspaceId, refs)).map((r) => r.id);
    return this.commitRoles(bundle, ctx, { remove: roleIds, add: [] });
  }

  /** The permissions `refs` names (by slug or id) and those to create; creating needs its own permission. */
  private async wantedPermissions(principal: Principal, bundle: KeyBundle, refs: string[]): Promise<{ ids: string[]; create: NewPermission[] }> {
    const { found, missing } = await findPermissionRefs(this.o.db, bundle.key.workspaceId, unique(refs));
    if (missing.length > 0) requireCreate(principal, missing);
    return { ids: unique(found.map((p) => p.id)), create: newPermissions(missing, this.o.now()) };
  }

  /** Ids of the permissions or roles linked to the key directly. */
  private async linked(target: Target, keyId: string): Promise<string[]> {
    const { db } = this.o;
    const rows =
      target === "permission"
        ? await db.select({ id: keysPermissions.permissionId }).from(keysPermissions).where(eq(keysPermissions.keyId, keyId))
        : await db.select({ id: keysRoles.roleId }).from(keysRoles).where(eq(keysRoles.keyId, keyId));
    return rows.map((r) => r.id);
  }

  /** Creates, unlinks and links permissions (each with its guarded event), in one batch. */
  private async commitPermissions(bundle: KeyBundle, ctx: AuditContext, change: { create: NewPermission[]; remove: string[]; add: string[] }): Promise<PermissionView[]> {
    const { db, audit } = this.o;
    const { workspaceId: ws, id: keyId } = bundle.key;
    const now = this.o.now();
    const writes = [
      ...createPermissionStatements(db, ws, change.create, now),
      ...permissionsCreatedEvents(audit, ctx, change.create),
      ...linkChanges(db, audit, ctx, "permission", ws, keyId, change, now),
    ];
    const [direct] = await this.commit(bundle, writes, [this.directPermissions(keyId)]);
    return (direct as PermissionRow[]).map(toPermissionView);
  }

  /** Unlinks and links roles (each with its guarded event), in one batch. */
  private async commitRoles(bundle: KeyBundle, ctx: AuditContext, change: { remove: string[]; add: string[] }): Promise<RoleView[]> {
    const { db, audit } = this.o;
    const keyId = bundle.key.id;
    const writes = linkChanges(db, audit, ctx, "role", bundle.key.workspaceId, keyId, change, this.o.now());
    const roleIdsOfKey = db.select({ id: keysRoles.roleId }).from(keysRoles).where(eq(keysRoles.keyId, keyId));
    const [roleRows, permRows] = await this.commit(bundle, writes, [
      db
        .select({ id: roles.id, name: roles.name, description: roles.description })
        .from(keysRoles)
        .innerJoin(roles, eq(roles.id, keysRoles.roleId))
        .where(eq(keysRoles.keyId, keyId))
        .orderBy(asc(roles.name)),
      db
        .select({ roleId: rolesPermissions.roleId, id: permissions.id, name: permissions.name, slug: permissions.slug, description: permissions.description })
        .from(rolesPermissions)
        .innerJoin(permissions, eq(permissions.id, rolesPermissions.permissionId))
        .where(inArray(rolesPermissions.roleId, roleIdsOfKey))
        .orderBy(asc(permissions.name), asc(permissions.slug)),
    ]);
    const perms = permRows as Array<PermissionRow & { roleId: string }>;
    return (roleRows as Array<Pick<typeof roles.$inferSelect, "id" | "name" | "description">>).map((r) => ({
      id: r.id,
      name: r.name,
      ...(r.description !== null ? { description: r.description } : {}),
      permissions: perms.filter((p) => p.roleId === r.id).map(toPermissionView),
    }));
  }

  /**
   * Runs `writes`, bumps the key's revision and runs `reads`, all in one batch; then republishes the key.
   * Returns the results of `reads`.
   */
  private async commit(bundle: KeyBundle, writes: Stmt[], reads: Stmt[]): Promise<unknown[][]> {
    const { db } = this.o;
    const k = bundle.key;
    const results = await db.batch([
      ...writes,
      db
        .update(keys)
        .set({ updatedAt: this.o.now(), revision: nextRevision })
        .where(and(eq(keys.id, k.id), eq(keys.workspaceId, k.workspaceId))),
      db.select(affectedKeyColumns).from(keys).where(and(eq(keys.id, k.id), eq(keys.workspaceId, k.workspaceId))),
      ...reads,
    ] as [Stmt, ...Stmt[]]);
    const tail = results.slice(results.length - reads.length - 1) as unknown[][];
    await republishKeys(this.o, k.workspaceId, tail[0] as AffectedKey[]);
    return tail.slice(1);
  }

  private directPermissions(keyId: string): Stmt {
    return this.o.db
      .select({ id: permissions.id, name: permissions.name, slug: permissions.slug, description: permissions.description })
      .from(keysPermissions)
      .innerJoin(permissions, eq(permissions.id, keysPermissions.permissionId))
      .where(eq(keysPermissions.keyId, keyId))
      .orderBy(asc(permissions.name), asc(permissions.slug));
  }
}

/** keys.createKey's link statements for a key inserted earlier in the same batch. */
export function grantStatements(db: Db, workspaceId: string, keyId: string, grants: KeyGrants, now: number): Stmt[] {
  return [
    ...createPermissionStatements(db, workspaceId, grants.create, now),
    ...linkStatements(db, "permission", workspaceId, keyId, [...grants.permissionIds, ...grants.create.map((p) => p.id)], now),
    ...linkStatements(db, "role", workspaceId, keyId, grants.roleIds, now),
  ];
}

/**
 * keys.createKey's events for its grants, for the end of its batch (after `grantStatements`): the
 * permissions created and one connect event per link that exists then (the key is new, so every link
 * that exists was made by this batch).
 */
export function grantAuditStatements(audit: AuditService, ctx: AuditContext, keyId: string, grants: KeyGrants) {
  return [
    ...permissionsCreatedEvents(audit, ctx, grants.create),
    ...linkEvents(audit, ctx, "permission", keyId, [...grants.permissionIds, ...grants.create.map((p) => p.id)], "connect", (id) => linkExists("permission", keyId, id)),
    ...linkEvents(audit, ctx, "role", keyId, grants.roleIds, "connect", (id) => linkExists("role", keyId, id)),
  ];
}

const LINK = {
  permission: { table: keysPermissions, column: keysPermissions.permissionId, target: permissions, connect: "authorization.connect_permission_and_key", disconnect: "authorization.disconnect_permission_and_key" },
  role: { table: keysRoles, column: keysRoles.roleId, target: roles, connect: "authorization.connect_role_and_key", disconnect: "authorization.disconnect_role_and_key" },
} as const;

function linkExists(target: Target, keyId: string, id: SQL): SQL {
  const l = LINK[target];
  return sql`EXISTS (SELECT 1 FROM ${l.table} WHERE ${l.table.keyId} = ${keyId} AND ${l.column} = ${id})`;
}

/** One event per id, each inserted only where `when(id)` holds at its place in the batch. */
function linkEvents(audit: AuditService, ctx: AuditContext, target: Target, keyId: string, ids: readonly string[], kind: "connect" | "disconnect", when: (id: SQL) => SQL) {
  const entries = unique(ids).map((id) => ({
    event: LINK[target][kind],
    resources: [
      { type: "key" as const, id: keyId },
      { type: target, id },
    ],
    args: [id],
  }));
  return audit.stage(ctx, entries, ([id]) => when(id!));
}

/**
 * The writes of a link change, in order: disconnect events (if the link exists), the deletes, connect
 * events (if the target exists and the link does not yet), the inserts. Each event thus fires exactly when
 * its change does.
 */
function linkChanges(db: Db, audit: AuditService, ctx: AuditContext, target: Target, ws: string, keyId: string, change: { remove: string[]; add: string[] }, now: number): Stmt[] {
  const l = LINK[target];
  const targetExists = (id: SQL) => sql`EXISTS (SELECT 1 FROM ${l.target} WHERE ${l.target.id} = ${id} AND ${l.target.workspaceId} = ${ws})`;
  return [
    ...linkEvents(audit, ctx, target, keyId, change.remove, "disconnect", (id) => linkExists(target, keyId, id)),
    ...chunks(unique(change.remove)).map((part) => db.delete(l.table).where(and(eq(l.table.keyId, keyId), inArray(l.column, part)))),
    ...linkEvents(audit, ctx, target, keyId, change.add, "connect", (id) => sql`${targetExists(id)} AND NOT ${linkExists(target, keyId, id)}`),
    ...linkStatements(db, target, ws, keyId, change.add, now),
  ];
}

/** Links the workspace's permissions or roles with these ids to the key; existing links stay. */
function linkStatements(db: Db, target: Target, workspaceId: string, keyId: string, ids: readonly string[], now: number): Stmt[] {
  return chunks(unique(ids)).map((part) =>
    target === "permission"
      ? db
          .insert(keysPermissions)
          .select(
            db
              .select({
                keyId: sql<string>`${keyId}`.as("key_id"),
                permissionId: permissions.id,
                workspaceId: permissions.workspaceId,
                createdAt: sql<number>`${now}`.as("created_at"),
              })
              .from(permissions)
              .where(and(eq(permissions.workspaceId, workspaceId), inArray(permissions.id, part))),
          )
          .onConflictDoNothing()
      : db
          .insert(keysRoles)
          .select(
            db
              .select({ keyId: sql<string>`${keyId}`.as("key_id"), roleId: roles.id, workspaceId: roles.workspaceId, createdAt: sql<number>`${now}`.as("created_at") })
              .from(roles)
              .where(and(eq(roles.workspaceId, workspaceId), inArray(roles.id, part))),
          )
          .onConflictDoNothing(),
  );
}

/** Creating the slugs a request names but the workspace lacks needs its own permission. */
function requireCreate(principal: Principal, missing: string[]): void {
  if (hasAny(principal.permissions, grantsFor("rbac", "create_permission"))) return;
  throw new ApiError(
    "INSUFFICIENT_PERMISSIONS",
    `The permission ${missing[0]} does not exist, and creating it needs this root-key permission: rbac.*.create_permission.`,
  );
}

/** The workspace's permissions named (by slug or id) in `refs`, and the names that match none. */
async function findPermissionRefs(db: Db, workspaceId: string, refs: readonly string[]): Promise<{ found: PermissionRow[]; missing: string[] }> {
  if (refs.length === 0) return { found: [], missing: [] };
  const parts = chunks(refs, REF_CHUNK).map((part) =>
    db
      .select()
      .from(permissions)
      .where(and(eq(permissions.workspaceId, workspaceId), or(inArray(permissions.slug, part), inArray(permissions.id, part)))),
  );
  const found = (await db.batch(parts as [(typeof parts)[number], ...(typeof parts)[number][]])).flat();
  const known = new Set(found.flatMap((p) => [p.id, p.slug]));
  return { found, missing: refs.filter((r) => !known.has(r)) };
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}
