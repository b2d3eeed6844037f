import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, PermissionSelector } from "../schemas";

export const operationId = "permissions.deletePermission";

const Body = z.strictObject({ permission: PermissionSelector }).openapi("V2PermissionsDeletePermissionRequestBody");

const Response = envelope(EmptyData).openapi("V2PermissionsDeletePermissionResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Delete a permission; every key and role that had it loses it at once",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsDeletePermissionRequest = z.input<typeof Body>;
export type PermissionsDeletePermissionResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "delete_permission"));
    const { permission } = c.req.valid("json");
    const { rbac } = c.get("services");
    await rbac.deletePermission(await rbac.findPermission(principal.workspaceId, permission), auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
