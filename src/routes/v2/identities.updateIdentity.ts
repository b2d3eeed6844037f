import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toIdentityView } from "../../services/identities";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, Identity, JsonObject, jsonBody, ok, RatelimitRequest, uniqueNames } from "../schemas";

export const operationId = "identities.updateIdentity";

const Body = z
  .strictObject({
    identity: z
      .string()
      .min(1)
      .max(255)
      .openapi({ description: "The identity's id or its externalId.", example: "user_123" }),
    meta: z.union([JsonObject, z.null()]).optional().openapi({ description: "Replaces the meta; `null` removes it." }),
    ratelimits: z.array(RatelimitRequest).max(50).superRefine(uniqueNames).optional().openapi({
      description: "Replaces the identity's limits by name; names not sent are removed, `[]` removes all.",
    }),
  })
  .openapi("V2IdentitiesUpdateIdentityRequestBody", { description: "Omitted fields stay as they are." });

const Response = envelope(Identity).openapi("V2IdentitiesUpdateIdentityResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["identities"],
  summary: "Update an identity's meta or limits",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type IdentitiesUpdateIdentityRequest = z.input<typeof Body>;
export type IdentitiesUpdateIdentityResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("identity", "update_identity"));
    const { identity, ...patch } = c.req.valid("json");
    const { identities } = c.get("services");
    const updated = await identities.update(await identities.find(principal.workspaceId, identity), patch, auditContext(c, principal));
    return c.json({ meta: meta(c), data: toIdentityView(updated) }, 200);
  });
}
