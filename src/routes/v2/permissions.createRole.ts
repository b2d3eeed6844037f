import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, PermissionSlug } from "../schemas";

export const operationId = "permissions.createRole";

const Body = z
  .strictObject({
    name: z.string().min(1).max(128).openapi({ description: "Unique in the workspace.", example: "editor" }),
    description: z.string().max(512).optional().openapi({ description: "What the role is for." }),
    permissions: z.array(PermissionSlug).max(1000).optional().openapi({
      description: "Slugs the role grants; missing ones are created (which needs rbac.*.create_permission).",
      example: ["documents.read", "documents.write"],
    }),
  })
  .openapi("V2PermissionsCreateRoleRequestBody");

const Response = envelope(z.object({ roleId: z.string() })).openapi("V2PermissionsCreateRoleResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Create a role",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsCreateRoleRequest = z.input<typeof Body>;
export type PermissionsCreateRoleResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "create_role"));
    const input = c.req.valid("json");
    const { rbac } = c.get("services");
    if (input.permissions && input.permissions.length > 0) {
      await requireRootKey(c, grantsFor("rbac", "add_permission_to_role"));
      await rbac.authorizeSlugs(principal, input.permissions);
    }
    const data = await rbac.createRole(input, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
