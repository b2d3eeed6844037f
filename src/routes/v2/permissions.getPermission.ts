import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toPermissionView } from "../../services/rbac";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Permission, PermissionSelector } from "../schemas";

export const operationId = "permissions.getPermission";

const Body = z.strictObject({ permission: PermissionSelector }).openapi("V2PermissionsGetPermissionRequestBody");

const Response = envelope(Permission).openapi("V2PermissionsGetPermissionResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Get a permission by id or slug",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsGetPermissionRequest = z.input<typeof Body>;
export type PermissionsGetPermissionResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "read_permission"));
    const { permission } = c.req.valid("json");
    const found = await c.get("services").rbac.findPermission(principal.workspaceId, permission);
    return c.json({ meta: meta(c), data: toPermissionView(found) }, 200);
  });
}
