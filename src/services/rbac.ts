/**
 * Permissions and roles of a workspace: the RBAC its own keys are verified against (root keys are governed
 * by the tuple table in lib/root-permissions, not by these rows).
 *
 * A key's verification record embeds its permission slugs (direct and through roles) and its role names,
 * so deleting a permission or a role, or changing what a role grants, is committed in one D1 batch together
 * with a revision bump of every live key it reaches and a read-back of those keys; then each one is
 * republished (`republishKeys`), so the next verify anywhere sees the change. The keys are read in the
 * batch before the link rows go, because afterwards nothing says which keys were affected.
 *
 * Audit: `permission.*`, `role.*` and `authorization.(dis)connect_role_and_permission(s)` events go into
 * the same batch (src/services/audit.ts), each guarded so that it is inserted exactly when its change
 * happens (a delete of something already gone records nothing; a link is recorded if it did not exist).
 */
import { and, asc, desc, eq, exists, gte, inArray, isNull, or, sql, type Column, type SQL, type SQLWrapper } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { keys, keysPermissions, keysRoles, permissions, roles, rolesPermissions } from "../db/schema";
import type { AuditContext, AuditEventName } from "../lib/audit";
import { ApiError, isUniqueViolation } from "../lib/errors";
import { newId } from "../lib/ids";
import { grantsFor } from "../lib/root-permissions";
import type { Principal } from "../lib/verify";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { affectedKeyColumns, nextRevision, republishKeys, type AffectedKey } from "./key-fanout";
import type { KeyStateClient } from "./key-state-client";
import {
  chunks,
  createPermissionStatements,
  findPermissions,
  missingPermissionSlugs,
  newPermissions,
  permissionsCreatedEvents,
  toPermissionView,
  type NewPermission,
  type PermissionView,
  type RoleView,
} from "./rbac-core";

export { toPermissionView, type PermissionView, type RoleView };
import { requirePermission } from "./root-auth";

type Stmt = BatchItem<"sqlite">;

export type PermissionRow = typeof permissions.$inferSelect;
export type RoleRow = typeof roles.$inferSelect;
export type Role = { row: RoleRow; permissions: PermissionRow[] };


export type CreatePermissionInput = { name: string; slug: string; description?: string | undefined };
export type CreateRoleInput = { name: string; description?: string | undefined; permissions?: string[] | undefined };
export type ListOptions = { limit: number; cursor?: string | undefined; search?: string | undefined };

export type RbacServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; audit: AuditService; now: () => number };

export class RbacService {
  constructor(private readonly o: RbacServiceOptions) {}

  /** A plain insert: the unique index on (workspace, slug) decides races, and a duplicate is a 409. */
  async createPermission(input: CreatePermissionInput, ctx: AuditContext): Promise<{ permissionId: string }> {
    const { db } = this.o;
    const now = this.o.now();
    const permissionId = newId("perm", now);
    const events = this.o.audit.stage(ctx, [{ event: "permission.create", resources: [{ type: "permission", id: permissionId }] }]);
    try {
      await db.batch([
        db.insert(permissions).values({
          id: permissionId,
          workspaceId: ctx.workspaceId,
          name: input.name,
          slug: input.slug,
          description: input.description ?? null,
          createdAt: now,
        }),
        ...events,
      ]);
    } catch (err) {
      if (isUniqueViolation(err, "permissions")) {
        throw new ApiError("PERMISSION_ALREADY_EXISTS", `A permission with the slug "${input.slug}" already exists.`);
      }
      throw err;
    }
    return { permissionId };
  }

  /** The permission named by id or, failing that, by slug; a 404 otherwise (also for another workspace's). */
  async findPermission(workspaceId: string, ref: string): Promise<PermissionRow> {
    const [row] = await this.o.db
      .select()
      .from(permissions)
      .where(and(eq(permissions.workspaceId, workspaceId), or(eq(permissions.id, ref), eq(permissions.slug, ref))))
      .orderBy(desc(sql`${permissions.id} = ${ref}`))
      .limit(1);
    if (!row) throw new ApiError("PERMISSION_NOT_FOUND", `The permission ${ref} does not exist.`);
    return row;
  }

  /** One page, oldest first; `search` matches id, name, slug or description, case-insensitively. */
  async listPermissions(workspaceId: string, opts: ListOptions): Promise<{ permissions: PermissionRow[]; cursor?: string }> {
    const rows = await this.o.db
      .select()
      .from(permissions)
      .where(
        and(
          eq(permissions.workspaceId, workspaceId),
          opts.cursor !== undefined ? gte(permissions.id, opts.cursor) : undefined,
          opts.search ? containsAny(opts.search, [permissions.id, permissions.name, permissions.slug, permissions.description]) : undefined,
        ),
      )
      .orderBy(asc(permissions.id))
      .limit(opts.limit + 1);
    const next = rows.length > opts.limit ? rows.pop() : undefined;
    return next ? { permissions: rows, cursor: next.id } : { permissions: rows };
  }

  /** Deletes the permission, takes it from every key and role that had it, and republishes those keys. */
  async deletePermission(permission: PermissionRow, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const { id, workspaceId } = permission;
    const holders = this.keysWithPermission(workspaceId, id);
    const [, , affected] = await db.batch([
      this.deleted(ctx, "permission", id),
      this.bumpKeys(holders),
      this.selectKeys(holders),
      db.delete(keysPermissions).where(and(eq(keysPermissions.permissionId, id), eq(keysPermissions.workspaceId, workspaceId))),
      db.delete(rolesPermissions).where(and(eq(rolesPermissions.permissionId, id), eq(rolesPermissions.workspaceId, workspaceId))),
      db.delete(permissions).where(and(eq(permissions.id, id), eq(permissions.workspaceId, workspaceId))),
    ]);
    await republishKeys(this.o, workspaceId, affected);
  }

  /**
   * Attaching slugs that do not exist yet creates them, which needs `rbac.*.create_permission` as well:
   * refused before anything is written. (A slug deleted between this check and the write is recreated:
   * the key could have attached it a moment earlier, so nothing is granted that was not.)
   */
  async authorizeSlugs(principal: Principal, slugs: readonly string[]): Promise<void> {
    if (slugs.length === 0) return;
    const missing = await missingPermissionSlugs(this.o.db, principal.workspaceId, slugs);
    if (missing.length > 0) requirePermission(principal, grantsFor("rbac", "create_permission"));
  }

  /** Creates the role with its permissions (missing slugs created) atomically; a taken name is a 409. */
  async createRole(input: CreateRoleInput, ctx: AuditContext): Promise<{ roleId: string }> {
    const { db, audit } = this.o;
    const { workspaceId } = ctx;
    const now = this.o.now();
    const roleId = newId("role", now);
    const { ids, create } = await this.wanted(workspaceId, input.permissions ?? [], now);
    const all = [...ids, ...create.map((p) => p.id)];
    const stmts: Stmt[] = [
      db.insert(roles).values({ id: roleId, workspaceId, name: input.name, description: input.description ?? null, createdAt: now }),
      ...createPermissionStatements(db, workspaceId, create, now),
      ...this.linkIds(workspaceId, roleId, all, now),
      // After the changes: the role is new, so every link that exists now was made by this batch.
      ...audit.stage(ctx, [{ event: "role.create", resources: [{ type: "role", id: roleId }] }]),
      ...permissionsCreatedEvents(audit, ctx, create),
      ...this.linkEvents(ctx, roleId, all, "connect", (perm) => this.linkExists(roleId, perm)),
    ];
    try {
      // The failed batch rolls back the permissions it created, too.
      await db.batch(stmts as [Stmt, ...Stmt[]]);
    } catch (err) {
      if (isUniqueViolation(err, "roles")) throw new ApiError("ROLE_ALREADY_EXISTS", `A role named "${input.name}" already exists.`);
      throw err;
    }
    return { roleId };
  }

  /** The role named by id or, failing that, by name, with its permissions; a 404 otherwise. */
  async findRole(workspaceId: string, ref: string): Promise<Role> {
    const { db } = this.o;
    const match = and(eq(roles.workspaceId, workspaceId), or(eq(roles.id, ref), eq(roles.name, ref)));
    const byIdFirst = desc(sql`${roles.id} = ${ref}`);
    const ids = db.select({ id: roles.id }).from(roles).where(match).orderBy(byIdFirst).limit(1);
    const [rows, perms] = await db.batch([
      db.select().from(roles).where(match).orderBy(byIdFirst).limit(1),
      this.permissionsOfRoles(workspaceId, ids),
    ]);
    const row = rows[0];
    if (!row) throw new ApiError("ROLE_NOT_FOUND", `The role ${ref} does not exist.`);
    return { row, permissions: perms.map((p) => p.permission) };
  }

  /** One page of roles with their permissions, oldest first; `search` matches id, name or description. */
  async listRoles(workspaceId: string, opts: ListOptions): Promise<{ roles: Role[]; cursor?: string }> {
    const { db } = this.o;
    const where = and(
      eq(roles.workspaceId, workspaceId),
      opts.cursor !== undefined ? gte(roles.id, opts.cursor) : undefined,
      opts.search ? containsAny(opts.search, [roles.id, roles.name, roles.description]) : undefined,
    );
    const ids = db.select({ id: roles.id }).from(roles).where(where).orderBy(asc(roles.id)).limit(opts.limit + 1);
    const [rows, perms] = await db.batch([
      db.select().from(roles).where(where).orderBy(asc(roles.id)).limit(opts.limit + 1),
      this.permissionsOfRoles(workspaceId, ids),
    ]);
    const next = rows.length > opts.limit ? rows.pop() : undefined;
    const page = rows.map((row) => ({ row, permissions: perms.filter((p) => p.roleId === row.id).map((p) => p.permission) }));
    return next ? { roles: page, cursor: next.id } : { roles: page };
  }

  /** Deletes the role, takes it from every key that had it, and republishes those keys. */
  async deleteRole(role: Role, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const { id, workspaceId } = role.row;
    const holders = this.keysWithRole(workspaceId, id);
    const [, , affected] = await db.batch([
      this.deleted(ctx, "role", id),
      this.bumpKeys(holders),
      this.selectKeys(holders),
      db.delete(keysRoles).where(and(eq(keysRoles.roleId, id), eq(keysRoles.workspaceId, workspaceId))),
      db.delete(rolesPermissions).where(and(eq(rolesPermissions.roleId, id), eq(rolesPermissions.workspaceId, workspaceId))),
      db.delete(roles).where(and(eq(roles.id, id), eq(roles.workspaceId, workspaceId))),
    ]);
    await republishKeys(this.o, workspaceId, affected);
  }

  /**
   * Makes the role grant exactly `slugs` (missing ones created; `[]` grants nothing), republishes every key
   * holding the role, and returns the role's permissions as stored. An unchanged set writes nothing.
   */
  async setRolePermissions(role: Role, slugs: readonly string[], ctx: AuditContext): Promise<PermissionRow[]> {
    const wantedSlugs = [...new Set(slugs)];
    const current = new Set(role.permissions.map((p) => p.slug));
    if (wantedSlugs.length === current.size && wantedSlugs.every((s) => current.has(s))) return role.permissions;
    const { db, audit } = this.o;
    const now = this.o.now();
    const { id, workspaceId } = role.row;
    const { ids, create } = await this.wanted(workspaceId, wantedSlugs, now);
    const add = [...ids, ...create.map((p) => p.id)];
    const keep = new Set(add);
    // Only the links read with the role go (each with its event); one added meanwhile stays, as if added after.
    const remove = role.permissions.map((p) => p.id).filter((p) => !keep.has(p));
    const holders = this.keysWithRole(workspaceId, id);
    const ofRole = and(eq(roles.id, id), eq(roles.workspaceId, workspaceId));
    const roleLive = sql`EXISTS (SELECT 1 FROM ${roles} WHERE ${roles.id} = ${id} AND ${roles.workspaceId} = ${workspaceId})`;
    const permLive = (perm: SQL) => sql`EXISTS (SELECT 1 FROM ${permissions} WHERE ${permissions.id} = ${perm} AND ${permissions.workspaceId} = ${workspaceId})`;
    const stmts: Stmt[] = [
      db.update(roles).set({ updatedAt: now }).where(ofRole),
      ...createPermissionStatements(db, workspaceId, create, now),
      ...permissionsCreatedEvents(audit, ctx, create),
      ...this.linkEvents(ctx, id, remove, "disconnect", (perm) => this.linkExists(id, perm)),
      ...chunks(remove).map((part) =>
        db.delete(rolesPermissions).where(and(eq(rolesPermissions.roleId, id), eq(rolesPermissions.workspaceId, workspaceId), inArray(rolesPermissions.permissionId, part))),
      ),
      ...this.linkEvents(ctx, id, add, "connect", (perm) => sql`${roleLive} AND ${permLive(perm)} AND NOT ${this.linkExists(id, perm)}`),
      ...this.linkIds(workspaceId, id, add, now),
      this.bumpKeys(holders),
      this.selectKeys(holders),
      db.select({ id: roles.id }).from(roles).where(ofRole),
      this.permissionsOfRoles(workspaceId, [id]),
    ];
    // The changes vary in number; the three reads are always last.
    const results: unknown[] = await db.batch(stmts as [Stmt, ...Stmt[]]);
    const [affected, stillThere, perms] = results.slice(-3) as [AffectedKey[], unknown[], Array<{ permission: PermissionRow }>];
    await republishKeys(this.o, workspaceId, affected);
    // Deleted between the lookup and the batch (nothing was linked): report it as the next lookup would.
    if (stillThere.length === 0) throw new ApiError("ROLE_NOT_FOUND", `The role ${id} does not exist.`);
    return perms.map((p) => p.permission);
  }

  /** The ids of the workspace's permissions with these slugs, and the permissions to create for the rest. */
  private async wanted(workspaceId: string, slugs: readonly string[], now: number): Promise<{ ids: string[]; create: NewPermission[] }> {
    const found = await findPermissions(this.o.db, workspaceId, slugs);
    const have = new Set(found.map((p) => p.slug));
    return { ids: found.map((p) => p.id), create: newPermissions(slugs.filter((slug) => !have.has(slug)), now) };
  }

  /** The permissions with these ids, linked to the role, 90 a statement; never to a deleted role. */
  private linkIds(workspaceId: string, roleId: string, ids: readonly string[], now: number): Stmt[] {
    const { db } = this.o;
    const roleExists = exists(db.select({ one: sql`1` }).from(roles).where(and(eq(roles.id, roleId), eq(roles.workspaceId, workspaceId))));
    return chunks([...new Set(ids)]).map((part) =>
      db
        .insert(rolesPermissions)
        .select(
          db
            .select({
              roleId: sql<string>`${roleId}`.as("role_id"),
              permissionId: permissions.id,
              workspaceId: permissions.workspaceId,
              createdAt: sql<number>`${now}`.as("created_at"),
            })
            .from(permissions)
            .where(and(eq(permissions.workspaceId, workspaceId), inArray(permissions.id, part), roleExists)),
        )
        .onConflictDoNothing(),
    );
  }

  private linkExists(roleId: string, permissionId: SQL): SQL {
    return sql`EXISTS (SELECT 1 FROM ${rolesPermissions} WHERE ${rolesPermissions.roleId} = ${roleId} AND ${rolesPermissions.permissionId} = ${permissionId})`;
  }

  /** One `authorization.(dis)connect_role_and_permission(s)` event per permission, where `when` holds. */
  private linkEvents(ctx: AuditContext, roleId: string, permissionIds: readonly string[], kind: "connect" | "disconnect", when: (perm: SQL) => SQL) {
    const event = kind === "connect" ? "authorization.connect_role_and_permission" : "authorization.disconnect_role_and_permissions";
    const entries = [...new Set(permissionIds)].map((id) => ({
      event: event as AuditEventName,
      resources: [
        { type: "role" as const, id: roleId },
        { type: "permission" as const, id },
      ],
      args: [id],
    }));
    return this.o.audit.stage(ctx, entries, ([perm]) => when(perm!));
  }

  /** `permission.delete` / `role.delete`, recorded if the row still exists where it stands (first) in the batch. */
  private deleted(ctx: AuditContext, type: "permission" | "role", id: string) {
    const table = type === "permission" ? permissions : roles;
    const entry = { event: `${type}.delete` as const, resources: [{ type, id }], args: [id] };
    return this.o.audit.stage(ctx, [entry], ([row]) => sql`EXISTS (SELECT 1 FROM ${table} WHERE ${table.id} = ${row})`)[0]!;
  }

  /** The permissions of the roles whose ids `roleIds` selects, by slug. */
  private permissionsOfRoles(workspaceId: string, roleIds: readonly string[] | SQLWrapper) {
    return this.o.db
      .select({ roleId: rolesPermissions.roleId, permission: permissions })
      .from(rolesPermissions)
      .innerJoin(permissions, eq(permissions.id, rolesPermissions.permissionId))
      .where(and(eq(rolesPermissions.workspaceId, workspaceId), inArray(rolesPermissions.roleId, roleIds)))
      .orderBy(asc(permissions.slug));
  }

  /** Live keys of the workspace holding the permission directly or through one of their roles. */
  private keysWithPermission(workspaceId: string, permissionId: string): SQL | undefined {
    const { db } = this.o;
    const direct = db
      .select({ id: keysPermissions.keyId })
      .from(keysPermissions)
      .where(and(eq(keysPermissions.permissionId, permissionId), eq(keysPermissions.workspaceId, workspaceId)));
    const viaRole = db
      .select({ id: keysRoles.keyId })
      .from(keysRoles)
      .innerJoin(rolesPermissions, eq(rolesPermissions.roleId, keysRoles.roleId))
      .where(and(eq(rolesPermissions.permissionId, permissionId), eq(keysRoles.workspaceId, workspaceId)));
    return and(eq(keys.workspaceId, workspaceId), isNull(keys.deletedAt), or(inArray(keys.id, direct), inArray(keys.id, viaRole)));
  }

  /** Live keys of the workspace holding the role. */
  private keysWithRole(workspaceId: string, roleId: string): SQL | undefined {
    const holders = this.o.db
      .select({ id: keysRoles.keyId })
      .from(keysRoles)
      .where(and(eq(keysRoles.roleId, roleId), eq(keysRoles.workspaceId, workspaceId)));
    return and(eq(keys.workspaceId, workspaceId), isNull(keys.deletedAt), inArray(keys.id, holders));
  }

  /** Every affected key gets a new revision, so records built before the change are stale. */
  private bumpKeys(where: SQL | undefined) {
    return this.o.db.update(keys).set({ revision: nextRevision }).where(where);
  }

  /** The affected keys with their (already bumped) revisions; must run before the link rows are deleted. */
  private selectKeys(where: SQL | undefined) {
    return this.o.db.select(affectedKeyColumns).from(keys).where(where);
  }
}

/** `permissions` is always present, `[]` for a role that grants nothing (as the SDK's docs describe it). */
export function toRoleView(role: Role): RoleView {
  const view: RoleView = { id: role.row.id, name: role.row.name, permissions: role.permissions.map(toPermissionView) };
  if (role.row.description !== null) view.description = role.row.description;
  return view;
}

/**
 * Case-insensitive substring match on any of `columns`. Not LIKE: D1 refuses LIKE patterns over 50 bytes
 * (search takes up to 256 characters), and `instr` has no wildcards to escape. SQLite's `lower` folds
 * ASCII only, as LIKE would; both sides go through it, so non-ASCII text still matches itself exactly.
 */
function containsAny(search: string, columns: Column[]): SQL | undefined {
  return or(...columns.map((col) => sql`instr(lower(${col}), lower(${search})) > 0`));
}

