import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { requirePermission } from "../../services/root-auth";
import { auditContext, meta, ROOT_KEY_SECURITY } from "../route";
import { EmptyData, envelope, errorResponses, jsonBody, ok, ResourceId } from "../schemas";

export const operationId = "apis.deleteApi";

const Body = z.strictObject({ apiId: ResourceId.openapi({ example: "api_0AbCdEfGhIjKlMnOpQr" }) }).openapi("V2ApisDeleteApiRequestBody");

const Response = envelope(EmptyData).openapi("V2ApisDeleteApiResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["apis"],
  summary: "Delete an API and revoke all its keys",
  description:
    "Every key of the API stops verifying within the revocation bound (see the README). A delete-protected API " +
    "(apis.updateApi `deleteProtection`) is a 412 `protected_resource`, and nothing is deleted.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type ApisDeleteApiRequest = z.input<typeof Body>;
export type ApisDeleteApiResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { apiId } = c.req.valid("json");
    const { apis } = c.get("services");
    const api = await apis.get(principal.workspaceId, apiId);
    requirePermission(principal, grantsFor("api", "delete_api", api.id));
    await apis.delete(api, auditContext(c, principal));
    return c.json({ meta: meta(c), data: {} }, 200);
  });
}
