import { INTERNAL_WORKSPACE_ID } from "../../lib/bootstrap";
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "vault.rewrap";

const Body = z
  .strictObject({
    cursor: z.string().min(1).max(255).optional().openapi({ description: "From the previous page's answer." }),
    limit: z.number().int().min(1).max(100).default(100).openapi({ description: "Data keys to process in this call." }),
  })
  .openapi("V2VaultRewrapRequestBody");

const Response = envelope(
  z
    .object({
      primaryKekId: z.string().openapi({ description: "The KEK every data key is being moved to (the first in VAULT_MASTER_KEYS)." }),
      rewrapped: z.number().int().openapi({ description: "Data keys re-wrapped by this call." }),
      failed: z
        .array(z.object({ dekId: z.string(), code: z.string(), message: z.string() }))
        .openapi({ description: "Data keys this call could not re-wrap (e.g. their KEK is no longer configured)." }),
      remaining: z.number().int().openapi({ description: "Data keys still wrapped by another KEK after this call." }),
      cursor: z.string().optional().openapi({ description: "Present when more data keys wait: pass it to the next call." }),
    })
    .openapi("V2VaultRewrapResponseData"),
).openapi("V2VaultRewrapResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["vault"],
  "x-latch-extension": true,
  summary: "Re-wrap every data key under the first KEK (Latch extension)",
  description:
    "Latch extension, the middle step of a KEK rotation (`npm run vault:rewrap` calls it): every workspace's data key " +
    "that is not yet wrapped by the first KEK in `VAULT_MASTER_KEYS` is unwrapped with the KEK that wraps it and " +
    "wrapped again by the first, one page per call. Needs `vault.*.rewrap`. With a root key of a workspace it covers " +
    "that workspace only; with an operator's root key (of Latch's internal workspace, from " +
    "`npm run bootstrap -- --operator`) it covers the whole deployment. No key material leaves the Worker. When " +
    "`remaining` is 0 for the deployment, the old KEK can be removed.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type VaultRewrapRequest = z.input<typeof Body>;
export type VaultRewrapResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("vault", "rewrap"));
    const { cursor, limit } = c.req.valid("json");
    // A tenant's root key re-wraps its own workspace's data key; only an operator's (a root key of the
    // internal workspace, from `npm run bootstrap -- --operator`) covers the whole deployment.
    const workspaceId = principal.workspaceId === INTERNAL_WORKSPACE_ID ? undefined : principal.workspaceId;
    const data = await c.get("services").vault.rewrap({ cursor, limit, workspaceId }, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
