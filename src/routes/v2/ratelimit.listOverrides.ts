import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, jsonBody, listEnvelope, ok } from "../schemas";
import { RatelimitOverride } from "./ratelimit.getOverride";

export const operationId = "ratelimit.listOverrides";

const Body = z
  .strictObject({
    namespace: z.string().min(1).max(512).openapi({ description: "The namespace's name or id.", example: "sms.sign_up" }),
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
    limit: z.number().int().min(1).max(100).default(10),
  })
  .openapi("V2RatelimitListOverridesRequestBody");

const Response = listEnvelope(RatelimitOverride).openapi("V2RatelimitListOverridesResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "List a namespace's overrides, oldest first",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RatelimitListOverridesRequest = z.input<typeof Body>;
export type RatelimitListOverridesResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { namespace, cursor, limit } = c.req.valid("json");
    const { ratelimits } = c.get("services");
    const ns = await ratelimits.findNamespace(principal.workspaceId, namespace);
    requirePermission(principal, grantsFor("ratelimit", "read_override", ns.id));
    const page = await ratelimits.listOverrides(ns, { limit, cursor });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.overrides, pagination }, 200);
  });
}
