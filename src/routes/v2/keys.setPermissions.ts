import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Permission, PermissionSlug, ResourceId } from "../schemas";

export const operationId = "keys.setPermissions";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    permissions: z.array(PermissionSlug).max(1000).openapi({
      description:
        "The key's complete set of direct permissions (slugs or ids); `[]` removes them all. Permissions through roles stay. " +
        "Missing slugs are created, which needs rbac.*.create_permission.",
    }),
  })
  .openapi("V2KeysSetPermissionsRequestBody");

const Response = envelope(z.array(Permission).openapi({ description: "The key's direct permissions after the change." })).openapi(
  "V2KeysSetPermissionsResponseBody",
);

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Replace a key's direct permissions",
  description:
    "Needs `api.{*|apiId}.update_key`, `rbac.*.add_permission_to_key` and `rbac.*.remove_permission_from_key` " +
    "(plus `rbac.*.create_permission` to create slugs).",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysSetPermissionsRequest = z.input<typeof Body>;
export type KeysSetPermissionsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, permissions } = c.req.valid("json");
    const { keys, keyRbac } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    requirePermission(principal, grantsFor("rbac", "add_permission_to_key"));
    requirePermission(principal, grantsFor("rbac", "remove_permission_from_key"));
    const data = await keyRbac.setPermissions(principal, bundle, permissions, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
