import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { AUDIT_EVENTS, AUDIT_RESOURCE_TYPES } from "../../lib/audit";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, JsonObject, jsonBody, listEnvelope, ok, Timestamp } from "../schemas";

export const operationId = "auditlogs.listLogs";

const Id = z.string().min(1).max(255).regex(/^[a-zA-Z0-9_.:*-]+$/, "may contain only letters, digits and _ . : * -");

const Body = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(100),
    cursor: z
      .string()
      .regex(/^[1-9][0-9]{0,14}$/, "must be a cursor returned by a previous page")
      .optional()
      .openapi({ description: "From the previous page's pagination." }),
    events: z
      .array(z.enum(AUDIT_EVENTS))
      .min(1)
      .max(AUDIT_EVENTS.length)
      .optional()
      .openapi({ description: "Only these event names.", example: ["key.create", "key.delete"] }),
    actorId: Id.optional().openapi({ description: "Only events made by this actor (a root key id).", example: "key_0AbCdEfGhIjKlMnOpQr" }),
    resourceId: Id.optional().openapi({ description: "Only events naming this resource.", example: "key_0AbCdEfGhIjKlMnOpQr" }),
    since: Timestamp.optional().openapi({ description: "Only events at or after this time (unix ms)." }),
    until: Timestamp.optional().openapi({ description: "Only events at or before this time (unix ms)." }),
  })
  .refine((b) => b.since === undefined || b.until === undefined || b.since <= b.until, { path: ["until"], message: "must not be before since" })
  .openapi("V2AuditlogsListLogsRequestBody");

const AuditLogEvent = z
  .object({
    id: z.string().openapi({ example: "log_0AbCdEfGhIjKlMnOpQr" }),
    time: z.number().int(),
    event: z.enum(AUDIT_EVENTS),
    workspaceId: z.string(),
    actor: z.object({ type: z.enum(["rootkey", "system"]), id: z.string() }),
    resources: z.array(z.object({ type: z.enum(AUDIT_RESOURCE_TYPES), id: z.string() })),
    remoteIp: z.string().optional(),
    userAgent: z.string().optional(),
    requestId: z.string(),
    correlationId: z.string().openapi({ description: "Shared by every event of one request." }),
    meta: JsonObject.optional(),
    prevHash: z.string().openapi({ description: "The previous event's hash (64 zeros for the first event)." }),
    hash: z.string().openapi({ description: "hex(SHA-256(prevHash + canonical JSON of the event without prevHash and hash))." }),
  })
  .openapi("AuditLogEvent");

const Response = listEnvelope(AuditLogEvent).openapi("V2AuditlogsListLogsResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["auditlogs"],
  "x-latch-extension": true,
  summary: "List the workspace's audit events, newest first (Latch extension)",
  description:
    "Latch extension. Needs `auditlog.*.read`. Every change made through the API leaves an event naming who made it " +
    "(the root key), what it touched (resource ids, never secrets), when, and from where. Filters combine with AND. " +
    "Events are hash-chained: `auditlogs.verifyChain` checks that none was changed, reordered or removed.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type AuditlogsListLogsRequest = z.input<typeof Body>;
export type AuditlogsListLogsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("auditlog", "read"));
    const { cursor, ...filter } = c.req.valid("json");
    const page = await c.get("services").audit.list(principal.workspaceId, { ...filter, cursor: cursor === undefined ? undefined : Number(cursor) });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.events, pagination }, 200);
  });
}
