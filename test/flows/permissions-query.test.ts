/**
 * verifyKey's `permissions` query against a key's permissions (direct and through roles): exact slugs,
 * AND binding tighter than OR, INSUFFICIENT_PERMISSIONS after disabled/expired in Unkey's order, and a
 * syntax error as a 400 that says where.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newId } from "../../src/lib/ids";
import { Harness } from "../harness";

/** Grants slugs to a key straight in D1 (the rbac endpoints have their own tests), then republishes it. */
async function grant(h: Harness, keyId: string, slugs: string[]): Promise<void> {
  const now = Date.now();
  for (const slug of slugs) {
    await env.DB.prepare("INSERT OR IGNORE INTO permissions (id, workspace_id, name, slug, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(newId("perm"), h.workspaceId, slug, slug, now)
      .run();
    await env.DB.prepare(
      "INSERT OR IGNORE INTO keys_permissions (key_id, permission_id, workspace_id, created_at) SELECT ?, id, workspace_id, ? FROM permissions WHERE workspace_id = ? AND slug = ?",
    )
      .bind(keyId, now, h.workspaceId, slug)
      .run();
  }
  // Any mutation republishes the record; a no-op rename is enough.
  expect((await h.post("/v2/keys.updateKey", { keyId, name: "granted" })).status).toBe(200);
}

describe("verifyKey permissions query", () => {
  it("checks exact slugs with AND binding tighter than OR", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    await grant(h, keyId, ["documents.read", "billing.view"]);
    const verify = async (permissions: string) => (await h.post("/v2/keys.verifyKey", { key, permissions })).body.data;

    expect(await verify("documents.read")).toMatchObject({ valid: true, code: "VALID", permissions: ["billing.view", "documents.read"] });
    expect(await verify("documents.read AND billing.view")).toMatchObject({ valid: true });
    expect(await verify("documents.read AND documents.write")).toMatchObject({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
    expect(await verify("documents.write OR billing.view")).toMatchObject({ valid: true });
    // a OR b AND c = a OR (b AND c)
    expect(await verify("documents.write OR billing.view AND admin")).toMatchObject({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
    expect(await verify("(documents.write OR billing.view) and documents.read")).toMatchObject({ valid: true });
    // `*` is a literal, never a wildcard.
    expect(await verify("documents.*")).toMatchObject({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
  });

  it("reports DISABLED and EXPIRED before INSUFFICIENT_PERMISSIONS", async () => {
    const h = await Harness.init();
    const disabled = await h.createKey({ enabled: false });
    const expired = await h.createKey({ expires: Date.now() - 1000 });
    for (const [k, code] of [[disabled, "DISABLED"], [expired, "EXPIRED"]] as const) {
      const res = await h.post("/v2/keys.verifyKey", { key: k.key, permissions: "anything" });
      expect(res.body.data).toMatchObject({ valid: false, code });
    }
  });

  it("a syntax error is a 400 naming the position, whatever the key", async () => {
    const h = await Harness.init();
    const { key } = await h.createKey();
    for (const query of ["a AND", "(a", "a b", "a & b", "OR a", "()"]) {
      const res = await h.post("/v2/keys.verifyKey", { key, permissions: query });
      expect(res.status, query).toBe(400);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/user/bad_request/permissions_query_syntax_error");
      expect(res.body.error.errors[0]).toMatchObject({ location: "body.permissions", message: expect.stringMatching(/position \d+/) });
    }
    const unknown = await h.post("/v2/keys.verifyKey", { key: "sk_unknownKey123456", permissions: "a AND" });
    expect(unknown.status).toBe(400);
    const tooLong = await h.post("/v2/keys.verifyKey", { key, permissions: "a".repeat(1001) });
    expect(tooLong.status).toBe(400);
  });

  it("works through the SDK", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    await grant(h, keyId, ["reports.read"]);
    const sdk = h.sdk();
    expect((await sdk.keys.verifyKey({ key, permissions: "reports.read" })).data).toMatchObject({ valid: true });
    expect((await sdk.keys.verifyKey({ key, permissions: "reports.write" })).data).toMatchObject({ code: "INSUFFICIENT_PERMISSIONS" });
  });
});
