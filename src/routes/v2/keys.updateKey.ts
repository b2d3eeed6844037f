import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import {
  EmptyData,
  envelope,
  errorResponses,
  ExternalId,
  JsonObject,
  jsonBody,
  ok,
  RatelimitRequest,
  RefillRequest,
  ResourceId,
  Timestamp,
  uniqueNames,
} from "../schemas";

export const operationId = "keys.updateKey";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    name: z.string().min(1).max(255).nullable().optional(),
    externalId: ExternalId.nullable().optional(),
    meta: z.union([JsonObject, z.null()]).optional(),
    expires: Timestamp.nullable().optional(),
    credits: z
      .strictObject({
        remaining: z.number().int().min(0).nullable().optional(),
        refill: z.union([RefillRequest, z.null()]).optional(),
      })
      .nullable()
      .optional(),
    ratelimits: z.array(RatelimitRequest).max(50).superRefine(uniqueNames).optional().openapi({
      description: "Replaces the key's limits by name; names not sent are removed.",
    }),
    enabled: z.boolean().optional(),
  })
  .openapi("V2KeysUpdateKeyRequestBody", { description: "Omitted fields stay as they are; `null` clears a field." });

const Response = envelope(EmptyData).openapi("V2KeysUpdateKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Update a key",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysUpdateKeyRequest = z.input<typeof Body>;
export type KeysUpdateKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, ...patch } = c.req.valid("json");
    const { keys } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    await keys.update(bundle, patch, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
