import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toPermissionView } from "../../services/rbac";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Permission, PermissionSlug, RoleSelector } from "../schemas";

export const operationId = "permissions.setRolePermissions";

const Body = z
  .strictObject({
    roleId: RoleSelector,
    permissions: z.array(PermissionSlug).max(1000).openapi({
      description: "Exactly the slugs the role grants from now on (`[]`: none); missing ones are created.",
      example: ["documents.read"],
    }),
  })
  .openapi("V2PermissionsSetRolePermissionsRequestBody");

const Response = envelope(z.array(Permission)).openapi("V2PermissionsSetRolePermissionsResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Replace a role's permissions; every key holding the role sees the change at once",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsSetRolePermissionsRequest = z.input<typeof Body>;
export type PermissionsSetRolePermissionsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "add_permission_to_role"));
    await requireRootKey(c, grantsFor("rbac", "remove_permission_from_role"));
    const { roleId, permissions } = c.req.valid("json");
    const { rbac } = c.get("services");
    const role = await rbac.findRole(principal.workspaceId, roleId);
    await rbac.authorizeSlugs(principal, permissions);
    const after = await rbac.setRolePermissions(role, permissions, auditContext(c, principal));
    return c.json({ meta: meta(c), data: after.map(toPermissionView) }, 200);
  });
}
