import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { MAX_DURATION_MS } from "../../lib/limiter-protocol";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, ErrorEnvelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "ratelimit.limit";

/** One limit check; multiLimit takes an array of these. */
export const LimitRequest = z
  .strictObject({
    namespace: z.string().min(1).max(512).openapi({
      description: "The namespace's name or id (`rlns_…`). An unknown name is created on first use (needs ratelimit.*.create_namespace).",
      example: "sms.sign_up",
    }),
    identifier: z.string().min(1).max(512).openapi({ description: "Who is limited: a user id, an IP, …", example: "user_123" }),
    limit: z.number().int().min(1).openapi({ description: "Requests allowed per window (an override replaces it).", example: 100 }),
    duration: z.number().int().min(1000).max(MAX_DURATION_MS).openapi({ description: "Window length in milliseconds.", example: 60000 }),
    cost: z.number().int().min(0).default(1).openapi({ description: "Tokens this request uses; 0 only looks.", example: 1 }),
  })
  .openapi("V2RatelimitLimitRequestBody");

/** 503 when the rate limiter cannot answer: the caller asked for a decision we cannot make. */
export const limiterUnavailable = {
  503: { description: "The rate limiter could not be reached; no decision was made.", content: { "application/json": { schema: ErrorEnvelope } } },
};

const Data = z
  .object({
    limit: z.number().int().openapi({ description: "The limit applied: the override's if one matched." }),
    remaining: z.number().int(),
    reset: z.number().int().openapi({ description: "Unix ms at which the current window ends." }),
    success: z.boolean(),
    overrideId: z.string().optional().openapi({ description: "The override that set limit and duration, if any." }),
  })
  .openapi("V2RatelimitLimitResponseData");

const Response = envelope(Data).openapi("V2RatelimitLimitResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["ratelimit"],
  summary: "Count a request against a limit",
  description: "Always HTTP 200 for a decision: `success` says whether the request may proceed.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(LimitRequest),
  responses: { ...ok(Response), ...errorResponses, ...limiterUnavailable },
});

export type RatelimitLimitRequest = z.input<typeof LimitRequest>;
export type RatelimitLimitResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const check = c.req.valid("json");
    const { results } = await c.get("services").ratelimits.limit(principal, [check], auditContext(c, principal));
    const { limit, remaining, reset, passed, overrideId } = results[0]!;
    return c.json({ meta: meta(c), data: { limit, remaining, reset, success: passed, ...(overrideId ? { overrideId } : {}) } }, 200);
  });
}
