import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toIdentityView } from "../../services/identities";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, Identity, jsonBody, ok } from "../schemas";

export const operationId = "identities.getIdentity";

const Body = z
  .strictObject({
    identity: z
      .string()
      .min(1)
      .max(255)
      .openapi({ description: "The identity's id or its externalId.", example: "user_123" }),
  })
  .openapi("V2IdentitiesGetIdentityRequestBody");

const Response = envelope(Identity).openapi("V2IdentitiesGetIdentityResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["identities"],
  summary: "Get an identity by id or externalId",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type IdentitiesGetIdentityRequest = z.input<typeof Body>;
export type IdentitiesGetIdentityResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("identity", "read_identity"));
    const { identity } = c.req.valid("json");
    const found = await c.get("services").identities.find(principal.workspaceId, identity);
    return c.json({ meta: meta(c), data: toIdentityView(found) }, 200);
  });
}
