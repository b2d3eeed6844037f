import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { grantsFor } from "../../lib/root-permissions";
import { requireRootKey } from "../../middleware/root-key";
import { meta, ROOT_KEY_SECURITY } from "../route";
import { errorResponses, jsonBody, listEnvelope, ok } from "../schemas";

export const operationId = "rootKeys.listRootKeys";

const Body = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(100),
    cursor: z.string().min(1).max(1024).optional().openapi({ description: "From the previous page's pagination." }),
  })
  .openapi("V2RootKeysListRootKeysRequestBody");

const RootKey = z
  .object({
    keyId: z.string().openapi({ example: "key_0AbCdEfGhIjKlMnOpQr" }),
    start: z.string().openapi({ description: "The first characters of the key, for recognising it.", example: "latch_root_3xQz" }),
    name: z.string().optional(),
    createdAt: z.number().int(),
    permissions: z.array(z.string()).openapi({ example: ["api.*.verify_key"] }),
  })
  .openapi("RootKey");

const Response = listEnvelope(RootKey).openapi("V2RootKeysListRootKeysResponseBody");

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["rootKeys"],
  "x-latch-extension": true,
  summary: "List this workspace's root keys, oldest first (Latch extension)",
  description:
    "Latch extension: Unkey offers root-key management only in its dashboard. Needs `rootkey.*.read_root_key`. " +
    "Lists the live root keys that administer the caller's workspace, with their permissions; never a key or its hash.",
  security: ROOT_KEY_SECURITY,
  request: jsonBody(Body),
  responses: { ...ok(Response), ...errorResponses },
});

export type RootKeysListRootKeysRequest = z.input<typeof Body>;
export type RootKeysListRootKeysResponse = z.infer<typeof Response>;

export function register(app: App): void {
  app.openapi(route, async (c) => {
    const principal = await requireRootKey(c, grantsFor("rootkey", "read_root_key"));
    const { limit, cursor } = c.req.valid("json");
    const page = await c.get("services").rootKeys.list(principal.workspaceId, { limit, cursor });
    const pagination = page.cursor ? { cursor: page.cursor, hasMore: true } : { hasMore: false };
    return c.json({ meta: meta(c), data: page.keys, pagination }, 200);
  });
}
