import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, Permission, PermissionSlug, ResourceId } from "../schemas";

export const operationId = "keys.removePermissions";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    permissions: z.array(PermissionSlug).min(1).max(1000).openapi({
      description:
        "Direct permissions to remove, by slug or id. Permissions through roles stay. One the key does not hold is ignored; " +
        "one the workspace does not have is a 404.",
    }),
  })
  .openapi("V2KeysRemovePermissionsRequestBody");

const Response = envelope(z.array(Permission).openapi({ description: "The key's direct permissions after the change." })).openapi(
  "V2KeysRemovePermissionsResponseBody",
);

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Remove permissions from a key",
  description: "Needs `api.{*|apiId}.update_key` and `rbac.*.remove_permission_from_key`.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysRemovePermissionsRequest = z.input<typeof Body>;
export type KeysRemovePermissionsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, permissions } = c.req.valid("json");
    const { keys, keyRbac } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    requirePermission(principal, grantsFor("rbac", "remove_permission_from_key"));
    const data = await keyRbac.removePermissions(bundle, permissions, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
