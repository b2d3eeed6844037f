import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor, hasAny } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, MAX_TIMESTAMP, ok, ResourceId } from "../schemas";

export const operationId = "keys.rerollKey";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    expiration: z.number().int().min(0).max(MAX_TIMESTAMP).openapi({
      description: "Milliseconds from now after which the old key stops verifying (rounded up to a minute); 0 = at once.",
      example: 86_400_000,
    }),
  })
  .openapi("V2KeysRerollKeyRequestBody");

const Response = envelope(z.object({ keyId: z.string(), key: z.string() })).openapi("V2KeysRerollKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Replace a key with a new secret that keeps its settings",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysRerollKeyRequest = z.input<typeof Body>;
export type KeysRerollKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, expiration } = c.req.valid("json");
    const { keys, apis } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "create_key", bundle.apiId));
    const api = await apis.get(principal.workspaceId, bundle.apiId);
    const canEncrypt = hasAny(principal.permissions, grantsFor("api", "encrypt_key", api.id));
    const data = await keys.reroll(bundle, api, expiration, auditContext(c, principal), { canEncrypt });
    return c.json({ meta: meta(c), data }, 200);
  });
}
