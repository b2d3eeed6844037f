import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { apiSettingsView } from "../../services/apis";
import { requirePermission } from "../../services/root-auth";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, ok } from "../schemas";

export const operationId = "apis.getApi";

const Body = z.strictObject({ apiId: z.string().min(8).max(255).openapi({ example: "api_0AbCdEfGhIjKlMnOpQr" }) }).openapi("V2ApisGetApiRequestBody");

const Data = z.object({
  id: z.string(),
  name: z.string(),
  ipWhitelist: z.array(z.string()).optional().openapi({
    description: "Latch extension: the API's IP allow-list (canonical CIDR ranges); omitted when verifies may come from anywhere.",
  }),
  deleteProtection: z.literal(true).optional().openapi({ description: "Latch extension: present (true) while the API is delete-protected." }),
  leakedKeyAction: z.literal("disable").optional().openapi({
    description: "Latch extension: present when leaked keys of this API are disabled rather than revoked (the default).",
  }),
});

const Response = envelope(Data).openapi("V2ApisGetApiResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["apis"],
  summary: "Get an API",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type ApisGetApiRequest = z.input<typeof Body>;
export type ApisGetApiResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { apiId } = c.req.valid("json");
    const api = await c.get("services").apis.get(principal.workspaceId, apiId);
    requirePermission(principal, grantsFor("api", "read_api", api.id));
    return c.json({ meta: meta(c), data: { id: api.id, name: api.name, ...apiSettingsView(api) } }, 200);
  });
}
