import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { requireRootKey } from "../../middleware/root-key";
import { grantsFor } from "../../lib/root-permissions";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "apis.createApi";

const Body = z
  .strictObject({
    name: z.string().min(3).max(256).openapi({ description: "A name for the API.", example: "payments-production" }),
    storeEncryptedKeys: z.boolean().default(false).openapi({
      description:
        "Latch extension: keep an encrypted copy of keys created with `recoverable: true`, so `decrypt: true` can show them " +
        "again. Needs a configured vault (412 otherwise). Change it later with `apis.updateApi`.",
      example: true,
      "x-latch-extension": true,
    }),
  })
  .openapi("V2ApisCreateApiRequestBody");

const Response = envelope(z.object({ apiId: z.string() })).openapi("V2ApisCreateApiResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["apis"],
  summary: "Create an API (a keyspace for keys)",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type ApisCreateApiRequest = z.input<typeof Body>;
export type ApisCreateApiResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("api", "create_api"));
    const { name, storeEncryptedKeys } = c.req.valid("json");
    const services = c.get("services");
    if (storeEncryptedKeys) await services.vault.requireConfigured();
    const data = await services.apis.create(name, { storeEncryptedKeys }, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
