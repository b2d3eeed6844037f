import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toRoleView } from "../../services/rbac";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Role, RoleSelector } from "../schemas";

export const operationId = "permissions.getRole";

const Body = z.strictObject({ role: RoleSelector }).openapi("V2PermissionsGetRoleRequestBody");

const Response = envelope(Role).openapi("V2PermissionsGetRoleResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Get a role and its permissions by id or name",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsGetRoleRequest = z.input<typeof Body>;
export type PermissionsGetRoleResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "read_role"));
    const { role } = c.req.valid("json");
    const found = await c.get("services").rbac.findRole(principal.workspaceId, role);
    return c.json({ meta: meta(c), data: toRoleView(found) }, 200);
  });
}
