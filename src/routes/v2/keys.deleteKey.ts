import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, ResourceId } from "../schemas";

export const operationId = "keys.deleteKey";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    permanent: z.boolean().default(false).openapi({ description: "Remove the row instead of marking it deleted." }),
  })
  .openapi("V2KeysDeleteKeyRequestBody");

const Response = envelope(EmptyData).openapi("V2KeysDeleteKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Delete (revoke) a key",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysDeleteKeyRequest = z.input<typeof Body>;
export type KeysDeleteKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, permanent } = c.req.valid("json");
    const { keys } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "delete_key", bundle.apiId));
    await keys.delete(bundle, permanent, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
