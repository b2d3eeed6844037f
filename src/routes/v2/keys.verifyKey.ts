import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { requireRootKey } from "../../middleware/root-key";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { MAX_DURATION_MS } from "../../lib/limiter-protocol";
import { MAX_QUERY_LENGTH } from "../../lib/permission-query";
import { envelope, errorResponses, jsonBody, KeyPlaintext, ok, uniqueNames, VerifyKeyData } from "../schemas";

export const operationId = "keys.verifyKey";

const Body = z
  .strictObject({
    key: KeyPlaintext.openapi({ description: "The key to verify.", example: "sk_5j1Bo8..." }),
    tags: z.array(z.string().min(1).max(512)).max(20).optional().openapi({ description: "Labels for analytics." }),
    permissions: z.string().min(1).max(MAX_QUERY_LENGTH).optional().openapi({
      description: "A permission query the key must satisfy: slugs, AND, OR and parentheses; AND binds tighter than OR.",
      example: "documents.read AND (documents.write OR admin)",
    }),
    credits: z
      .strictObject({ cost: z.number().int().min(0).max(1e12).openapi({ description: "Credits to spend; 0 only checks." }) })
      .optional()
      .openapi({ description: "Spend more (or fewer) than the default 1 credit of a key with credits." }),
    ratelimits: z
      .array(
        z.strictObject({
          name: z.string().min(3).max(255),
          cost: z.number().int().min(0).default(1),
          limit: z.number().int().min(0).optional().openapi({ description: "Overrides the configured limit for this call." }),
          duration: z.number().int().min(1000).max(MAX_DURATION_MS).optional().openapi({ description: "Overrides the configured window (ms)." }),
        }),
      )
      .max(100)
      .superRefine(uniqueNames)
      .optional()
      .openapi({
        description:
          "Limits to apply by name (the key's first, then its identity's). An unknown name is a 412 unless limit and duration are given.",
      }),
  })
  .openapi("V2KeysVerifyKeyRequestBody");

const Response = envelope(VerifyKeyData).openapi("V2KeysVerifyKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Verify a key",
  description:
    "Always HTTP 200 for a verification outcome: `valid` and `code` say whether the key may be used. A key of " +
    "another workspace, or of an API the root key may not verify, is NOT_FOUND. A key of an API with an IP " +
    "allow-list is FORBIDDEN when the request's `CF-Connecting-IP` is missing or outside it.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysVerifyKeyRequest = z.input<typeof Body>;
export type KeysVerifyKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { key, permissions, credits, ratelimits } = c.req.valid("json");
    // Cloudflare sets CF-Connecting-IP itself (a client cannot choose it): the API's IP allow-list checks it.
    const callerIp = c.req.header("cf-connecting-ip");
    const data = await c.get("services").verifier.verify(principal, { key, permissions, credits, ratelimits, callerIp });
    return c.json({ meta: meta(c), data }, 200);
  });
}
