import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toRoleView } from "../../services/rbac";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, jsonBody, listEnvelope, ok, Role } from "../schemas";

export const operationId = "permissions.listRoles";

const Body = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(100),
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
    search: z.string().max(256).optional().openapi({
      description: "Only roles whose id, name or description contains this text (case-insensitive).",
    }),
  })
  .openapi("V2PermissionsListRolesRequestBody");

const Response = listEnvelope(Role).openapi("V2PermissionsListRolesResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["permissions"],
  summary: "List the workspace's roles with their permissions, oldest first",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type PermissionsListRolesRequest = z.input<typeof Body>;
export type PermissionsListRolesResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rbac", "read_role"));
    const { limit, cursor, search } = c.req.valid("json");
    const page = await c.get("services").rbac.listRoles(principal.workspaceId, { limit, cursor, search });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.roles.map(toRoleView), pagination }, 200);
  });
}
