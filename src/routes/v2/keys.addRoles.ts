import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, ResourceId, Role, RoleSelector } from "../schemas";

export const operationId = "keys.addRoles";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    roles: z.array(RoleSelector).min(1).max(100).openapi({ description: "Roles to add, by id or name. Each must exist (404 otherwise)." }),
  })
  .openapi("V2KeysAddRolesRequestBody");

const Response = envelope(z.array(Role).openapi({ description: "The key's roles after the change." })).openapi("V2KeysAddRolesResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Add roles to a key",
  description: "Needs `api.{*|apiId}.update_key` and `rbac.*.add_role_to_key`.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysAddRolesRequest = z.input<typeof Body>;
export type KeysAddRolesResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, roles } = c.req.valid("json");
    const { keys, keyRbac } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    requirePermission(principal, grantsFor("rbac", "add_role_to_key"));
    const data = await keyRbac.addRoles(bundle, roles, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
