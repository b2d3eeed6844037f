import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { MAX_DURATION_MS } from "../../lib/limiter-protocol";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "ratelimit.setOverride";

const Body = z
  .strictObject({
    namespace: z.string().min(1).max(512).openapi({ description: "The namespace's name or id; it must exist.", example: "sms.sign_up" }),
    identifier: z.string().min(1).max(512).openapi({
      description: "An identifier, or a pattern in which `*` matches any run of characters. An exact match wins over patterns.",
      example: "premium_*",
    }),
    limit: z.number().int().min(0).openapi({ description: "Requests per window; 0 blocks the identifier.", example: 1000 }),
    duration: z.number().int().min(1000).max(MAX_DURATION_MS).openapi({ description: "Window length in milliseconds.", example: 60000 }),
  })
  .openapi("V2RatelimitSetOverrideRequestBody");

const Response = envelope(z.object({ overrideId: z.string() }).openapi("V2RatelimitSetOverrideResponseData")).openapi(
  "V2RatelimitSetOverrideResponseBody",
);

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "Create or replace an override of a namespace's limits",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RatelimitSetOverrideRequest = z.input<typeof Body>;
export type RatelimitSetOverrideResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { namespace, ...override } = c.req.valid("json");
    const { ratelimits } = c.get("services");
    const ns = await ratelimits.findNamespace(principal.workspaceId, namespace);
    requirePermission(principal, grantsFor("ratelimit", "set_override", ns.id));
    return c.json({ meta: meta(c), data: await ratelimits.setOverride(ns, override, auditContext(c, principal)) }, 200);
  });
}
