/**
 * Building blocks shared by everything that attaches permissions and roles (keys.createKey, keys.add/set
 * Permissions and Roles, permissions.createRole, setRolePermissions). Permissions are addressed by slug,
 * roles by id or name, always within one workspace. D1 caps bound parameters at 100 per statement, so lists
 * are chunked.
 */
import { and, eq, inArray, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { permissions, roles } from "../db/schema";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { AuditContext } from "../lib/audit";
import type { AuditService } from "./audit";
import { chunk } from "../lib/chunk";

type Stmt = BatchItem<"sqlite">;

/** Unkey's `Permission` and `Role` as the API returns them (`description` omitted when there is none). */
export type PermissionView = { id: string; name: string; slug: string; description?: string };
export type RoleView = { id: string; name: string; description?: string; permissions: PermissionView[] };

export function toPermissionView(p: Pick<typeof permissions.$inferSelect, "id" | "name" | "slug" | "description">): PermissionView {
  return { id: p.id, name: p.name, slug: p.slug, ...(p.description !== null ? { description: p.description } : {}) };
}

/** Leaves room for the other parameters of a statement under D1's cap of 100. */
export const SLUG_CHUNK = 90;

/** Splits a list for D1's cap of 100 bound parameters per statement (default: slug lists). */
export function chunks<T>(items: readonly T[], size = SLUG_CHUNK): T[][] {
  return chunk(items, size);
}

/** The workspace's permissions with these slugs (id and slug), in one round trip per 90 slugs. */
export async function findPermissions(db: Db, workspaceId: string, slugs: readonly string[]): Promise<Array<typeof permissions.$inferSelect>> {
  const unique = [...new Set(slugs)];
  if (unique.length === 0) return [];
  const parts = chunks(unique).map((part) =>
    db.select().from(permissions).where(and(eq(permissions.workspaceId, workspaceId), inArray(permissions.slug, part))),
  );
  const results = await db.batch(parts as [(typeof parts)[number], ...(typeof parts)[number][]]);
  return results.flat();
}

/** Slugs of `wanted` the workspace does not have yet. */
export async function missingPermissionSlugs(db: Db, workspaceId: string, wanted: readonly string[]): Promise<string[]> {
  const have = new Set((await findPermissions(db, workspaceId, wanted)).map((p) => p.slug));
  return [...new Set(wanted)].filter((slug) => !have.has(slug));
}

/** A permission a request creates on the fly: its id is chosen before the batch, so its event can name it. */
export type NewPermission = { id: string; slug: string };

export function newPermissions(slugs: readonly string[], now: number): NewPermission[] {
  return [...new Set(slugs)].map((slug) => ({ id: newId("perm", now), slug }));
}

/**
 * Statements that create the given permissions (name = slug), ignoring any slug that exists by then (its
 * row keeps its own id, and `permissionsCreatedEvents` records nothing for it). 20 rows (100 parameters)
 * per statement, so even 1,000 slugs stay a few dozen statements in a batch.
 */
export function createPermissionStatements(db: Db, workspaceId: string, perms: readonly NewPermission[], now: number): Stmt[] {
  return chunks(perms, 20).map((part) =>
    db
      .insert(permissions)
      .values(part.map((p) => ({ id: p.id, workspaceId, name: p.slug, slug: p.slug, createdAt: now })))
      .onConflictDoNothing({ target: [permissions.workspaceId, permissions.slug] }),
  );
}

/** `permission.create` for each permission the preceding `createPermissionStatements` really created. */
export function permissionsCreatedEvents(audit: AuditService, ctx: AuditContext, perms: readonly NewPermission[]) {
  return audit.stage(
    ctx,
    perms.map((p) => ({ event: "permission.create" as const, resources: [{ type: "permission" as const, id: p.id }], args: [p.id] })),
    ([id]) => sql`EXISTS (SELECT 1 FROM ${permissions} WHERE ${permissions.id} = ${id})`,
  );
}

/**
 * The workspace's roles named by id or name, in the order asked. A role that does not exist is a 404
 * (`role_not_found`), naming it, before anything is written.
 */
export async function resolveRoles(db: Db, workspaceId: string, refs: readonly string[]): Promise<Array<typeof roles.$inferSelect>> {
  const unique = [...new Set(refs)];
  if (unique.length === 0) return [];
  const parts = chunks(unique, 45).map((part) =>
    db
      .select()
      .from(roles)
      .where(and(eq(roles.workspaceId, workspaceId), or(inArray(roles.id, part), inArray(roles.name, part)))),
  );
  const found = (await db.batch(parts as [(typeof parts)[number], ...(typeof parts)[number][]])).flat();
  return unique.map((ref) => {
    const role = found.find((r) => r.id === ref) ?? found.find((r) => r.name === ref);
    if (!role) throw new ApiError("ROLE_NOT_FOUND", `The role ${ref} does not exist.`);
    return role;
  });
}
