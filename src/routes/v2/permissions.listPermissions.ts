import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toPermissionView } from "../../services/rbac";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, jsonBody, listEnvelope, ok, Permission } from "../schemas";

export const operationId = "permissions.listPermissions";

const Body = z
  .strictObject({
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
    limit: z.number().int().min(1).max(100).default(100),
    search: z.string().max(256).optional().openapi({
      description: "Only permissions whose id, name, slug or description contains this text (case-insensitive).",
    }),
  })
  .openapi("V2PermissionsListPermissionsRequestBody");

const Response = listEnvelope(Permission).openapi("V2PermissionsListPermissionsResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "List the workspace's permissions, oldest first",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsListPermissionsRequest = z.input<typeof Body>;
export type PermissionsListPermissionsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "read_permission"));
    const { limit, cursor, search } = c.req.valid("json");
    const page = await c.get("services").rbac.listPermissions(principal.workspaceId, { limit, cursor, search });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.permissions.map(toPermissionView), pagination }, 200);
  });
}
