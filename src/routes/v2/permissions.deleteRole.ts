import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, RoleSelector } from "../schemas";

export const operationId = "permissions.deleteRole";

const Body = z.strictObject({ role: RoleSelector }).openapi("V2PermissionsDeleteRoleRequestBody");

const Response = envelope(EmptyData).openapi("V2PermissionsDeleteRoleResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Delete a role; every key that had it loses it at once",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsDeleteRoleRequest = z.input<typeof Body>;
export type PermissionsDeleteRoleResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "delete_role"));
    const { role } = c.req.valid("json");
    const { rbac } = c.get("services");
    await rbac.deleteRole(await rbac.findRole(principal.workspaceId, role), auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
