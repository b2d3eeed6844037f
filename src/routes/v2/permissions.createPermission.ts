import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok, PermissionSlug } from "../schemas";

export const operationId = "permissions.createPermission";

const Body = z
  .strictObject({
    name: z.string().min(1).max(512).openapi({ description: "A human-readable name.", example: "Read documents" }),
    slug: PermissionSlug.openapi({ description: "Unique in the workspace.", example: "documents.read" }),
    description: z.string().max(512).optional().openapi({ description: "What the permission grants." }),
  })
  .openapi("V2PermissionsCreatePermissionRequestBody");

const Response = envelope(z.object({ permissionId: z.string() })).openapi("V2PermissionsCreatePermissionResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "Create a permission",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsCreatePermissionRequest = z.input<typeof Body>;
export type PermissionsCreatePermissionResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "create_permission"));
    const input = c.req.valid("json");
    const data = await c.get("services").rbac.createPermission(input, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
