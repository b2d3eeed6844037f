import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, ResourceId } from "../schemas";

export const operationId = "apis.updateApi";

/** Every setting is optional: omitted = unchanged. New API settings are added here as they are built. */
const Body = z
  .strictObject({
    apiId: ResourceId.openapi({ description: "The API to change.", example: "api_0AbCdEfGhIjKlMnOpQr" }),
    storeEncryptedKeys: z.boolean().optional().openapi({
      description:
        "Keep encrypted copies of keys created with `recoverable: true` (the vault). Turning it on needs a configured " +
        "vault (412 otherwise). Turning it off keeps existing copies but refuses new recoverable keys and every decrypt.",
      example: true,
    }),
  })
  .openapi("V2ApisUpdateApiRequestBody");

const Response = envelope(EmptyData).openapi("V2ApisUpdateApiResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["apis"],
  "x-latch-extension": true,
  summary: "Change an API's settings (Latch extension)",
  description:
    "Latch extension: Unkey changes API settings only in its dashboard. Needs `api.*.update_api` or " +
    "`api.<apiId>.update_api`. Omitted settings are left as they are.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type ApisUpdateApiRequest = z.input<typeof Body>;
export type ApisUpdateApiResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { apiId, ...settings } = c.req.valid("json");
    const { apis, vault } = c.get("services");
    const api = await apis.get(principal.workspaceId, apiId);
    requirePermission(principal, grantsFor("api", "update_api", api.id));
    if (settings.storeEncryptedKeys) await vault.requireConfigured();
    await apis.update(api, settings);
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
