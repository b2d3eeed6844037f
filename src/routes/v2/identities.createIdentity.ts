import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, ExternalId, JsonObject, jsonBody, ok, RatelimitRequest, uniqueNames } from "../schemas";

export const operationId = "identities.createIdentity";

const Body = z
  .strictObject({
    externalId: ExternalId.openapi({ description: "Your id for this customer; unique in the workspace.", example: "user_123" }),
    meta: JsonObject.optional(),
    ratelimits: z.array(RatelimitRequest).max(50).superRefine(uniqueNames).optional().openapi({
      description: "Limits shared by every key of the identity.",
    }),
  })
  .openapi("V2IdentitiesCreateIdentityRequestBody");

const Response = envelope(z.object({ identityId: z.string() })).openapi("V2IdentitiesCreateIdentityResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["identities"],
  summary: "Create an identity",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type IdentitiesCreateIdentityRequest = z.input<typeof Body>;
export type IdentitiesCreateIdentityResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("identity", "create_identity"));
    const input = c.req.valid("json");
    const data = await c.get("services").identities.create(input, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
