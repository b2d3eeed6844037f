import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { MAX_CIDRS, parseCidrList } from "../../lib/cidr";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { LEAKED_KEY_ACTIONS } from "../../services/apis";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
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
    ipWhitelist: z
      .array(z.string())
      .max(MAX_CIDRS)
      .superRefine((list, ctx) => {
        const parsed = parseCidrList(list);
        if (!parsed.ok) for (const e of parsed.errors) ctx.addIssue({ code: "custom", path: e.index < 0 ? [] : [e.index], message: e.message });
      })
      .nullable()
      .optional()
      .openapi({
        description:
          "IPv4 and IPv6 addresses or CIDR ranges verifies of this API's keys must come from (the verify request's " +
          "`CF-Connecting-IP`); from elsewhere, or without the header, a verify is `FORBIDDEN`. `null` or `[]` allows " +
          "every address. Stored canonical; an entry with host bits set past its prefix is refused.",
        example: ["203.0.113.0/24", "2001:db8::/32"],
      }),
    deleteProtection: z.boolean().optional().openapi({
      description: "While true, apis.deleteApi on this API is a 412 `protected_resource` and nothing is deleted.",
      example: true,
    }),
    leakedKeyAction: z.enum(LEAKED_KEY_ACTIONS).optional().openapi({
      description:
        "What a GitHub secret-scanning report of one of this API's keys does: `revoke` (delete it, the default) or " +
        "`disable` it (it can be re-enabled with keys.updateKey).",
      example: "disable",
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
    "`api.<apiId>.update_api`. Omitted settings are left as they are. A new IP allow-list applies to the next " +
    "verify of every key of the API (within the revocation bound on other locations).",
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
    await apis.update(api, settings, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
