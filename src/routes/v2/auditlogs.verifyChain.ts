import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "auditlogs.verifyChain";

const Body = z.strictObject({}).openapi("V2AuditlogsVerifyChainRequestBody");

const Response = envelope(
  z
    .object({
      valid: z.boolean().openapi({ description: "True if every event is intact and in its place." }),
      count: z.number().int().openapi({ description: "How many events the log holds." }),
      firstBrokenEventId: z
        .string()
        .optional()
        .openapi({ description: "When not valid: the first event that was changed, or that follows a removed or moved event." }),
      lastHash: z
        .string()
        .optional()
        .openapi({ description: "When valid and not empty: the newest event's hash. Keep it elsewhere to detect removal of the newest events." }),
    })
    .openapi("V2AuditlogsVerifyChainResponseData"),
).openapi("V2AuditlogsVerifyChainResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["auditlogs"],
  "x-latch-extension": true,
  summary: "Check that the workspace's audit log was not tampered with (Latch extension)",
  description:
    "Latch extension. Needs `auditlog.*.read`. Recomputes every event's hash, oldest first: each is SHA-256 of the " +
    "previous event's hash and the event's canonical JSON. A changed, reordered or removed event makes the answer " +
    "`valid: false` with the first event where the chain breaks.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type AuditlogsVerifyChainRequest = z.input<typeof Body>;
export type AuditlogsVerifyChainResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("auditlog", "read"));
    c.req.valid("json");
    const data = await c.get("services").audit.verifyChain(principal.workspaceId);
    return c.json({ meta: meta(c), data }, 200);
  });
}
