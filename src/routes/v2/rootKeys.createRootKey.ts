import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor, parseRootPermission, type RootTuple } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "rootKeys.createRootKey";

/** A permission tuple, parsed as it is validated, so a bad entry is a 400 that names it. */
const RootPermission = z
  .string()
  .max(512)
  .transform((value, ctx): RootTuple => {
    const parsed = parseRootPermission(value);
    if ("error" in parsed) {
      ctx.addIssue({ code: "custom", message: `"${value.slice(0, 64)}" is not a root-key permission: ${parsed.error}` });
      return z.NEVER;
    }
    return parsed;
  })
  .openapi({ type: "string", maxLength: 512, example: "api.*.verify_key" });

const Body = z
  .strictObject({
    name: z.string().min(1).max(255).optional().openapi({ description: "A label shown in listings.", example: "billing service" }),
    permissions: z.array(RootPermission).min(1).max(1000).openapi({
      description:
        "Tuples `<type>.<id|*>.<action>`: `api.{*|apiId}.…`, `ratelimit.{*|namespaceId}.…`, `identity.*.…`, `rbac.*.…`, `rootkey.*.…`. " +
        "A specific id must name a live API or rate-limit namespace of the workspace.",
      example: ["api.*.verify_key", "api.*.read_key"],
    }),
  })
  .openapi("V2RootKeysCreateRootKeyRequestBody");

const Response = envelope(
  z
    .object({
      keyId: z.string().openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
      key: z.string().openapi({ description: "The root key. Shown once, stored nowhere: keep it safe." }),
    })
    .openapi("V2RootKeysCreateRootKeyResponseData"),
).openapi("V2RootKeysCreateRootKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["rootKeys"],
  "x-latch-extension": true,
  summary: "Create a root key for this workspace (Latch extension)",
  description:
    "Latch extension: Unkey offers root-key management only in its dashboard. Needs `rootkey.*.create_root_key`.\n\n" +
    "**A root key can never grant more than it holds.** Every requested permission must be held by the calling key " +
    "exactly, or be covered by a wildcard it holds for the same type and action (holding `api.*.read_key` allows " +
    "granting `api.api_123.read_key`, but holding `api.api_123.read_key` does not allow `api.*.read_key`). " +
    "Otherwise the answer is 403, naming the permissions it may not grant.\n\n" +
    "A permission naming an API or rate-limit namespace that does not exist in the workspace (or belongs to another " +
    "one) is a 400 naming the entry: such a grant could never take effect. A specific id is accepted only for `api` " +
    "and `ratelimit`, the types checked per resource.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RootKeysCreateRootKeyRequest = z.input<typeof Body>;
export type RootKeysCreateRootKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rootkey", "create_root_key"));
    const { name, permissions } = c.req.valid("json");
    const data = await c.get("services").rootKeys.create(principal, { name, permissions }, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
