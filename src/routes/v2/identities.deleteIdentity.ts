import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, jsonBody, Meta, ok } from "../schemas";

export const operationId = "identities.deleteIdentity";

const Body = z
  .strictObject({
    identity: z
      .string()
      .min(1)
      .max(255)
      .openapi({ description: "The identity's id or its externalId.", example: "user_123" }),
  })
  .openapi("V2IdentitiesDeleteIdentityRequestBody");

/** Unkey's schema for this operation has no `data`: the body is `{meta}` alone. */
const Response = z.object({ meta: Meta }).openapi("V2IdentitiesDeleteIdentityResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["identities"],
  summary: "Delete an identity; its keys stay, without an identity",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type IdentitiesDeleteIdentityRequest = z.input<typeof Body>;
export type IdentitiesDeleteIdentityResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("identity", "delete_identity"));
    const { identity } = c.req.valid("json");
    const { identities } = c.get("services");
    await identities.delete(await identities.find(principal.workspaceId, identity), auditContext(c, principal));
    return c.json({ meta: meta(c) }, 200);
  });
}
