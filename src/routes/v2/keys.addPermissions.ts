import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Permission, PermissionSlug, ResourceId } from "../schemas";

export const operationId = "keys.addPermissions";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    permissions: z.array(PermissionSlug).min(1).max(1000).openapi({
      description: "Slugs (or ids) to grant directly. Missing slugs are created, which needs rbac.*.create_permission.",
    }),
  })
  .openapi("V2KeysAddPermissionsRequestBody");

const Response = envelope(z.array(Permission).openapi({ description: "The key's direct permissions after the change." })).openapi(
  "V2KeysAddPermissionsResponseBody",
);

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Add permissions to a key",
  description: "Needs `api.{*|apiId}.update_key` and `rbac.*.add_permission_to_key` (plus `rbac.*.create_permission` to create slugs).",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysAddPermissionsRequest = z.input<typeof Body>;
export type KeysAddPermissionsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, permissions } = c.req.valid("json");
    const { keys, keyRbac } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    requirePermission(principal, grantsFor("rbac", "add_permission_to_key"));
    const data = await keyRbac.addPermissions(principal, bundle, permissions, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
