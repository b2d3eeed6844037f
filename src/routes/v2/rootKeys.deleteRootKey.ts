import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, ResourceId } from "../schemas";

export const operationId = "rootKeys.deleteRootKey";

const Body = z
  .strictObject({ keyId: ResourceId.openapi({ description: "The root key's id, from createRootKey or listRootKeys.", example: "key_0AbCdEfGhIjKlMnOpQr" }) })
  .openapi("V2RootKeysDeleteRootKeyRequestBody");

const Response = envelope(EmptyData).openapi("V2RootKeysDeleteRootKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["rootKeys"],
  "x-latch-extension": true,
  summary: "Revoke a root key of this workspace (Latch extension)",
  description:
    "Latch extension: Unkey offers root-key management only in its dashboard. Needs `rootkey.*.delete_root_key`. " +
    "The key is revoked at once where the call was made (the very next request with it is a 401) and everywhere " +
    "within the revocation bound (isolate cache TTL + KV propagation, 65 s with the defaults). " +
    "A key may revoke itself (this request still succeeds; the next one does not). " +
    "Another workspace's root key, or a key that is not a root key, is a 404 exactly like a missing one.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RootKeysDeleteRootKeyRequest = z.input<typeof Body>;
export type RootKeysDeleteRootKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rootkey", "delete_root_key"));
    const { keyId } = c.req.valid("json");
    await c.get("services").rootKeys.delete(keyId, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
