import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toIdentityView } from "../../services/identities";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, Identity, jsonBody, listEnvelope, ok } from "../schemas";

export const operationId = "identities.listIdentities";

const Body = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(100),
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
    search: z.string().max(256).optional().openapi({ description: "Only identities whose externalId contains this text." }),
  })
  .openapi("V2IdentitiesListIdentitiesRequestBody");

const Response = listEnvelope(Identity).openapi("V2IdentitiesListIdentitiesResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["identities"],
  summary: "List the workspace's identities, oldest first",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type IdentitiesListIdentitiesRequest = z.input<typeof Body>;
export type IdentitiesListIdentitiesResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("identity", "read_identity"));
    const { limit, cursor, search } = c.req.valid("json");
    const page = await c.get("services").identities.list(principal.workspaceId, { limit, cursor, search });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.identities.map(toIdentityView), pagination }, 200);
  });
}
