import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";
import { limiterUnavailable, LimitRequest } from "./ratelimit.limit";

export const operationId = "ratelimit.multiLimit";

const Body = z.array(LimitRequest).min(1).max(100).openapi("V2RatelimitMultiLimitRequestBody", {
  description: "A bare array of ratelimit.limit bodies, applied all-or-nothing.",
});

const Check = z
  .object({
    namespace: z.string().openapi({ description: "As sent in the request." }),
    identifier: z.string(),
    limit: z.number().int(),
    remaining: z.number().int(),
    reset: z.number().int(),
    passed: z.boolean().openapi({ description: "Whether this limit alone would admit the request." }),
    overrideId: z.string().optional(),
  })
  .openapi("V2RatelimitMultiLimitCheck");

const Data = z
  .object({
    passed: z.boolean().openapi({ description: "True only if every limit passed; otherwise nothing was counted." }),
    limits: z.array(Check),
  })
  .openapi("V2RatelimitMultiLimitResponseData");

const Response = envelope(Data).openapi("V2RatelimitMultiLimitResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "Check several limits at once, all-or-nothing",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses, ...limiterUnavailable },
});

export type RatelimitMultiLimitRequest = z.input<typeof Body>;
export type RatelimitMultiLimitResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const checks = c.req.valid("json");
    const { passed, results } = await c.get("services").ratelimits.limit(principal, checks, auditContext(c, principal));
    return c.json({ meta: meta(c), data: { passed, limits: results } }, 200);
  });
}
