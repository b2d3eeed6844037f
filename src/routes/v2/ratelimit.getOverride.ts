import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "ratelimit.getOverride";

const Body = z
  .strictObject({
    namespace: z.string().min(1).max(512).openapi({ description: "The namespace's name or id.", example: "sms.sign_up" }),
    identifier: z.string().min(1).max(512).openapi({ description: "The override's identifier or pattern, exactly as set.", example: "premium_*" }),
  })
  .openapi("V2RatelimitGetOverrideRequestBody");

export const RatelimitOverride = z
  .object({
    overrideId: z.string(),
    duration: z.number().int(),
    identifier: z.string(),
    limit: z.number().int(),
  })
  .openapi("RatelimitOverride");

const Response = envelope(RatelimitOverride).openapi("V2RatelimitGetOverrideResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "Get the override stored for an identifier",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RatelimitGetOverrideRequest = z.input<typeof Body>;
export type RatelimitGetOverrideResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { namespace, identifier } = c.req.valid("json");
    const { ratelimits } = c.get("services");
    const ns = await ratelimits.findNamespace(principal.workspaceId, namespace);
    requirePermission(principal, grantsFor("ratelimit", "read_override", ns.id));
    return c.json({ meta: meta(c), data: await ratelimits.getOverride(ns, identifier) }, 200);
  });
}
