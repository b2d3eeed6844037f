import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "ratelimit.deleteOverride";

const Body = z
  .strictObject({
    namespace: z.string().min(1).max(512).openapi({ description: "The namespace's name or id.", example: "sms.sign_up" }),
    identifier: z.string().min(1).max(512).openapi({ description: "The override's identifier or pattern, exactly as set.", example: "premium_*" }),
  })
  .openapi("V2RatelimitDeleteOverrideRequestBody");

const Response = envelope(EmptyData).openapi("V2RatelimitDeleteOverrideResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "Delete an override; the namespace's callers get their own limits again",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RatelimitDeleteOverrideRequest = z.input<typeof Body>;
export type RatelimitDeleteOverrideResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { namespace, identifier } = c.req.valid("json");
    const { ratelimits } = c.get("services");
    const ns = await ratelimits.findNamespace(principal.workspaceId, namespace);
    requirePermission(principal, grantsFor("ratelimit", "delete_override", ns.id));
    await ratelimits.deleteOverride(ns, identifier, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
