import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { creditsView } from "../../services/key-views";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { CreditsResponse, envelope, errorResponses, jsonBody, ok, ResourceId } from "../schemas";

export const operationId = "keys.updateCredits";

const Body = z
  .strictObject({
    keyId: ResourceId.openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    operation: z.enum(["set", "increment", "decrement"]).openapi({
      description: "`set` replaces the balance (`null` = unlimited, which also removes the refill); `decrement` floors at 0.",
    }),
    value: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  })
  .superRefine((v, ctx) => {
    if (v.operation !== "set" && (v.value === undefined || v.value === null)) {
      ctx.addIssue({ code: "custom", path: ["value"], message: `${v.operation} needs a value` });
    }
    if (v.operation === "set" && v.value === undefined) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "set needs a value (null = unlimited)" });
    }
  })
  .openapi("V2KeysUpdateCreditsRequestBody");

const Response = envelope(CreditsResponse).openapi("V2KeysUpdateCreditsResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Set, add to or subtract from a key's credits",
  description: "Atomic with respect to concurrent verifies: the balance lives in the key's Durable Object.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysUpdateCreditsRequest = z.input<typeof Body>;
export type KeysUpdateCreditsResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { keyId, operation, value } = c.req.valid("json");
    const { keys } = c.get("services");
    const bundle = await keys.find(principal.workspaceId, keyId);
    requirePermission(principal, grantsFor("api", "update_key", bundle.apiId));
    const op = operation === "set" ? { operation, value: value ?? null } : { operation, value: value ?? 0 };
    const state = await keys.updateCredits(bundle, op, auditContext(c, principal));
    return c.json({ meta: meta(c), data: creditsView(state) }, 200);
  });
}
