import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toKeyView } from "../../services/key-views";
import { requireEncryptedKeys } from "../../services/apis";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, KeyResponseData, ok, ResourceId } from "../schemas";

export const operationId = "keys.getKey";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    decrypt: z.boolean().default(false).openapi({ description: "Return `plaintext` of a recoverable key (needs decrypt_key)." }),
  })
  .openapi("V2KeysGetKeyRequestBody");

const Response = envelope(KeyResponseData).openapi("V2KeysGetKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Get a key by id",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysGetKeyRequest = z.input<typeof Body>;
export type KeysGetKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, decrypt } = c.req.valid("json");
    const { keys, apis, vault } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "read_key", bundle.apiId));
    let plaintext: string | undefined;
    if (decrypt) {
      requirePermission(principal, grantsFor("api", "decrypt_key", bundle.apiId));
      requireEncryptedKeys(await apis.get(principal.workspaceId, bundle.apiId));
      const revealed = await vault.reveal(principal.workspaceId, [bundle.key.id], auditContext(c, principal));
      plaintext = revealed.get(bundle.key.id);
    }
    return c.json({ meta: meta(c), data: toKeyView(bundle, await keys.credits(bundle), plaintext) }, 200);
  });
}
