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
 */
import { and, asc, eq, inArray, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { keys, keysPermissions, keysRoles, permissions, roles, rolesPermissions } from "../db/schema";
import { ApiError } from "../lib/errors";
import { grantsFor, hasAny } from "../lib/root-permissions";
import type { Principal } from "../lib/verify";
import type { EdgeRecords } from "./edge-records";
import { affectedKeyColumns, nextRevision, republishKeys, type AffectedKey } from "./key-fanout";
import type { KeyBundle } from "./key-bundles";
import type { KeyStateClient } from "./key-state-client";
import { chunks, createPermissionStatements, resolveRoles } from "./rbac-core";

type Stmt = BatchItem<"sqlite">;
type PermissionRow = typeof permissions.$inferSelect;

/** Names per statement when a list is matched against two columns (D1 caps bound parameters at 100). */
const REF_CHUNK = 45;

export type PermissionView = { id: string; name: string; slug: string; description?: string };
export type RoleView = { id: string; name: string; description?: string; permissions: PermissionView[] };

/** What keys.createKey attaches: permission names (slug or id; missing slugs are created) and role ids. */
export type KeyGrants = { permissions: string[]; createSlugs: string[]; roleIds: string[] };

export type KeyRbacServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; now: () => number };

export class KeyRbacService {
  constructor(private readonly o: KeyRbacServiceOptions) {}

  /**
   * keys.createKey's permissions and roles, checked before the key exists: a role that does not exist is a
   * 404, a slug that does not exist needs `create_permission` (403). The statements come from `grantStatements`.
   */
  async resolveGrants(principal: Principal, input: { permissions?: string[] | undefined; roles?: string[] | undefined }): Promise<KeyGrants> {
    const refs = unique(input.permissions ?? []);
    const roleIds = (await resolveRoles(this.o.db, principal.workspaceId, input.roles ?? [])).map((r) => r.id);
    const { missing } = await findPermissionRefs(this.o.db, principal.workspaceId, refs);
    if (missing.length > 0) requireCreate(principal, missing);
    return { permissions: refs, createSlugs: missing, roleIds };
  }

  /** Adds direct permissions; returns the key's direct permissions after the change. */
  async addPermissions(principal: Principal, bundle: KeyBundle, refs: string[]): Promise<PermissionView[]> {
    const ws = bundle.key.workspaceId;
    const wanted = unique(refs);
    const { missing } = await findPermissionRefs(this.o.db, ws, wanted);
    if (missing.length > 0) requireCreate(principal, missing);
    const now = this.o.now();
    const writes = [...createPermissionStatements(this.o.db, ws, missing, now), ...linkPermissions(this.o.db, ws, bundle.key.id, wanted, now)];
    const [direct] = await this.commit(bundle, writes, [this.directPermissions(bundle.key.id)]);
    return (direct as PermissionRow[]).map(toPermissionView);
  }

  /** Replaces the key's direct permissions (permissions through roles stay); `[]` removes them all. */
  async setPermissions(principal: Principal, bundle: KeyBundle, refs: string[]): Promise<PermissionView[]> {
    const ws = bundle.key.workspaceId;
    const wanted = unique(refs);
    const { missing } = await findPermissionRefs(this.o.db, ws, wanted);
    if (missing.length > 0) requireCreate(principal, missing);
    const now = this.o.now();
    const writes = [
      ...createPermissionStatements(this.o.db, ws, missing, now),
      this.o.db.delete(keysPermissions).where(and(eq(keysPermissions.keyId, bundle.key.id), eq(keysPermissions.workspaceId, ws))),
      ...linkPermissions(this.o.db, ws, bundle.key.id, wanted, now),
    ];
    const [direct] = await this.commit(bundle, writes, [this.directPermissions(bundle.key.id)]);
    return (direct as PermissionRow[]).map(toPermissionView);
  }

  /**
   * Removes direct permissions (permissions through roles stay). A name that is no permission of the
   * workspace is a 404, as in Unkey; one the key does not hold is ignored.
   */
  async removePermissions(bundle: KeyBundle, refs: string[]): Promise<PermissionView[]> {
    const { db } = this.o;
    const ws = bundle.key.workspaceId;
    const { found, missing } = await findPermissionRefs(db, ws, unique(refs));
    if (missing.length > 0) throw new ApiError("PERMISSION_NOT_FOUND", `The permission ${missing[0]} does not exist.`);
    const ids = found.map((p) => p.id);
    const writes = chunks(ids).map((part) =>
      db.delete(keysPermissions).where(and(eq(keysPermissions.keyId, bundle.key.id), inArray(keysPermissions.permissionId, part))),
    );
    const [direct] = await this.commit(bundle, writes, [this.directPermissions(bundle.key.id)]);
    return (direct as PermissionRow[]).map(toPermissionView);
  }

  /** Adds roles (which must exist); returns the key's roles after the change. */
  async addRoles(bundle: KeyBundle, refs: string[]): Promise<RoleView[]> {
    const ws = bundle.key.workspaceId;
    const roleIds = (await resolveRoles(this.o.db, ws, refs)).map((r) => r.id);
    return this.commitRoles(bundle, linkRoles(this.o.db, ws, bundle.key.id, roleIds, this.o.now()));
  }

  /** Replaces the key's roles; `[]` removes them all. */
  async setRoles(bundle: KeyBundle, refs: string[]): Promise<RoleView[]> {
    const { db } = this.o;
    const ws = bundle.key.workspaceId;
    const roleIds = (await resolveRoles(db, ws, refs)).map((r) => r.id);
    return this.commitRoles(bundle, [
      db.delete(keysRoles).where(and(eq(keysRoles.keyId, bundle.key.id), eq(keysRoles.workspaceId, ws))),
      ...linkRoles(db, ws, bundle.key.id, roleIds, this.o.now()),
    ]);
  }

  /** Removes roles (which must exist: an unknown one is a 404); one the key does not hold is ignored. */
  async removeRoles(bundle: KeyBundle, refs: string[]): Promise<RoleView[]> {
    const { db } = this.o;
    const roleIds = (await resolveRoles(db, bundle.key.workspaceId, refs)).map((r) => r.id);
    return this.commitRoles(
      bundle,
      chunks(roleIds).map((part) => db.delete(keysRoles).where(and(eq(keysRoles.keyId, bundle.key.id), inArray(keysRoles.roleId, part)))),
    );
  }

  private async commitRoles(bundle: KeyBundle, writes: Stmt[]): Promise<RoleView[]> {
    const { db } = this.o;
    const keyId = bundle.key.id;
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
    ...createPermissionStatements(db, workspaceId, grants.createSlugs, now),
    ...linkPermissions(db, workspaceId, keyId, grants.permissions, now),
    ...linkRoles(db, workspaceId, keyId, grants.roleIds, now),
  ];
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

/** Links the workspace's permissions named (by slug or id) in `refs` to the key; existing links stay. */
function linkPermissions(db: Db, workspaceId: string, keyId: string, refs: readonly string[], now: number): Stmt[] {
  return chunks(refs, REF_CHUNK).map((part) =>
    db
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
          .where(and(eq(permissions.workspaceId, workspaceId), or(inArray(permissions.slug, part), inArray(permissions.id, part)))),
      )
      .onConflictDoNothing(),
  );
}

/** Links the workspace's roles with these ids to the key; existing links stay. */
function linkRoles(db: Db, workspaceId: string, keyId: string, roleIds: readonly string[], now: number): Stmt[] {
  return chunks(roleIds).map((part) =>
    db
      .insert(keysRoles)
      .select(
        db
          .select({
            keyId: sql<string>`${keyId}`.as("key_id"),
            roleId: roles.id,
            workspaceId: roles.workspaceId,
            createdAt: sql<number>`${now}`.as("created_at"),
          })
          .from(roles)
          .where(and(eq(roles.workspaceId, workspaceId), inArray(roles.id, part))),
      )
      .onConflictDoNothing(),
  );
}

function toPermissionView(p: Pick<PermissionRow, "id" | "name" | "slug" | "description">): PermissionView {
  return { id: p.id, name: p.name, slug: p.slug, ...(p.description !== null ? { description: p.description } : {}) };
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}
