import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toKeyView } from "../../services/key-views";
import { requireEncryptedKeys } from "../../services/apis";
import { requirePermission } from "../../services/root-auth";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, ExternalId, jsonBody, KeyResponseData, listEnvelope, ok } from "../schemas";

export const operationId = "apis.listKeys";

const Body = z
  .strictObject({
    apiId: z.string().min(1).max(255),
    limit: z.number().int().min(1).max(100).default(100),
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
    externalId: ExternalId.optional().openapi({ description: "Only keys of this identity." }),
    decrypt: z.boolean().default(false).openapi({ description: "Return `plaintext` of recoverable keys (needs decrypt_key)." }),
    revalidateKeysCache: z.boolean().default(false).openapi({
      description: "Rewrite the edge verification records of the listed keys from the database.",
    }),
  })
  .openapi("V2ApisListKeysRequestBody");

const Response = listEnvelope(KeyResponseData).openapi("V2ApisListKeysResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["apis"],
  summary: "List an API's keys, oldest first",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type ApisListKeysRequest = z.input<typeof Body>;
export type ApisListKeysResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { apiId, limit, cursor, externalId, decrypt, revalidateKeysCache } = c.req.valid("json");
    const { apis, vault } = c.get("services");
    const api = await apis.get(principal.workspaceId, apiId);
    requirePermission(principal, grantsFor("api", "read_api", api.id));
    requirePermission(principal, grantsFor("api", "read_key", api.id));
    if (decrypt) {
      requirePermission(principal, grantsFor("api", "decrypt_key", api.id));
      requireEncryptedKeys(api);
    }
    const page = await apis.listKeys(api, { limit, cursor, externalId, revalidate: revalidateKeysCache });
    const audit = { actor: principal.keyId, requestId: c.get("requestId") };
    const plaintexts = decrypt ? await vault.reveal(api.workspaceId, page.bundles.map((b) => b.key.id), audit) : undefined;
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    const data = page.bundles.map((b) => toKeyView(b, undefined, plaintexts?.get(b.key.id)));
    return c.json({ meta: meta(c), data, pagination }, 200);
  });
}
