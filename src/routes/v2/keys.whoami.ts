import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { ApiError } from "../../lib/errors";
import { grantsFor, hasAny } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { toKeyView } from "../../services/key-views";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { envelope, errorResponses, jsonBody, KeyPlaintext, KeyResponseData, ok } from "../schemas";

export const operationId = "keys.whoami";

const Body = z.strictObject({ key: KeyPlaintext.openapi({ description: "The key itself.", example: "sk_5j1Bo8..." }) }).openapi("V2KeysWhoamiRequestBody");

const Response = envelope(KeyResponseData).openapi("V2KeysWhoamiResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["keys"],
  summary: "Find a key by its plaintext",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type KeysWhoamiRequest = z.input<typeof Body>;
export type KeysWhoamiResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c);
    const { key } = c.req.valid("json");
    const bundle = await c.get("services").keys.findByPlaintext(principal.workspaceId, key);
    // Without read_key the key is reported missing, as Unkey does: otherwise any root key of the workspace
    // could test whether a leaked string is a live key.
    if (!hasAny(principal.permissions, grantsFor("api", "read_key", bundle.apiId))) {
      throw new ApiError("KEY_NOT_FOUND", "The key does not exist.");
    }
    return c.json({ meta: meta(c), data: toKeyView(bundle, await c.get("services").keys.credits(bundle)) }, 200);
  });
}
