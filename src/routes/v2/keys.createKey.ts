import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requireEncryptedKeys } from "../../services/apis";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, ExternalId, jsonBody, JsonObject, KeyByteLength, ok, PermissionSlug, RatelimitRequest, RefillRequest, ResourceId, RoleSelector, Timestamp, uniqueNames } from "../schemas";

export const operationId = "keys.createKey";

const Body = z
  .strictObject({
    apiId: ResourceId.openapi({ description: "The API the key belongs to.", example: "api_0AbCdEfGhIjKlMnOpQr" }),
    prefix: z
      .string()
      .min(1)
      .max(16)
      .regex(/^[a-zA-Z0-9_]+$/, "may contain only letters, digits and underscores")
      .optional()
      .openapi({ description: "Prepended to the key with an underscore.", example: "sk_live" }),
    name: z.string().min(1).max(255).optional(),
    byteLength: KeyByteLength.optional().openapi({ description: "Random bytes in the key (16..255, default 16)." }),
    externalId: ExternalId.optional(),
    meta: JsonObject.optional(),
    expires: Timestamp.optional().openapi({ description: "Unix ms after which the key stops verifying." }),
    credits: z
      .strictObject({ remaining: z.number().int().min(0).nullable(), refill: RefillRequest.optional() })
      .optional()
      .openapi({ description: "Usage credits; `remaining: null` means unlimited." }),
    ratelimits: z.array(RatelimitRequest).max(50).superRefine(uniqueNames).optional(),
    permissions: z.array(PermissionSlug).max(1000).optional().openapi({
      description:
        "Permission slugs to grant directly (needs rbac.*.add_permission_to_key). Missing slugs are created, which needs rbac.*.create_permission.",
    }),
    roles: z.array(RoleSelector).max(100).optional().openapi({
      description: "Roles to grant, by id or name (needs rbac.*.add_role_to_key). Each must exist (404 otherwise).",
    }),
    enabled: z.boolean().default(true),
    recoverable: z.boolean().default(false).openapi({
      description: "Keep an encrypted copy so the key can be shown again; the API must store encrypted keys.",
    }),
  })
  .openapi("V2KeysCreateKeyRequestBody");

const Response = envelope(
  z.object({
    keyId: z.string(),
    key: z.string().openapi({ description: "The key itself. Shown once: Latch stores only its hash." }),
  }),
).openapi("V2KeysCreateKeyResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Create a key",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysCreateKeyRequest = z.input<typeof Body>;
export type KeysCreateKeyResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { apiId, recoverable, permissions, roles, ...input } = c.req.valid("json");
    const services = c.get("services");
    const api = await services.apis.get(principal.workspaceId, apiId);
    requirePermission(principal, grantsFor("api", "create_key", api.id));
    if (recoverable) {
      requirePermission(principal, grantsFor("api", "encrypt_key", api.id));
      requireEncryptedKeys(api);
    }
    if (permissions?.length) requirePermission(principal, grantsFor("rbac", "add_permission_to_key"));
    if (roles?.length) requirePermission(principal, grantsFor("rbac", "add_role_to_key"));
    const grants = permissions?.length || roles?.length ? await services.keyRbac.resolveGrants(principal, { permissions, roles }) : undefined;
    const data = await services.keys.create(api, { ...input, grants, recoverable }, auditContext(c, principal));
    return c.json({ meta: meta(c), data }, 200);
  });
}
