import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysSetPermissionsResponse } from "../../../src/routes/v2/keys.setPermissions";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.setPermissions";
const INSUFFICIENT = "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions";

async function slugsInWorkspace(workspaceId: string): Promise<string[]> {
  const rows = await env.DB.prepare("SELECT slug FROM permissions WHERE workspace_id = ? ORDER BY slug").bind(workspaceId).all<{ slug: string }>();
  return rows.results.map((r) => r.slug);
}

async function keyPermissions(h: Harness, keyId: string): Promise<string[] | undefined> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status).toBe(200);
  return res.body.data.permissions;
}

describe("keys.setPermissions", () => {
  describe("happy", () => {
    it("replaces the direct set, creating missing slugs, and returns it", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ permissions: ["old.one", "kept"] });
      const res = await h.post<KeysSetPermissionsResponse>(PATH, { keyId, permissions: ["kept", "new.one"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toEqual([
        { id: expect.stringMatching(/^perm_/), name: "kept", slug: "kept" },
        { id: expect.stringMatching(/^perm_/), name: "new.one", slug: "new.one" },
      ]);
      expect(await keyPermissions(h, keyId)).toEqual(["kept", "new.one"]);
      // The permission itself stays in the workspace; only the key's link is gone.
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["kept", "new.one", "old.one"]);
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "old.one" });
      expect(verify.body.data).toMatchObject({ valid: false, code: "INSUFFICIENT_PERMISSIONS", permissions: ["kept", "new.one"] });
    });

    it("[] removes every direct permission but keeps those through roles", async () => {
      const h = await Harness.init();
      const role = await h.post("/v2/permissions.createRole", { name: "reader", permissions: ["documents.read"] });
      expect(role.status, JSON.stringify(role.body)).toBe(200);
      const { keyId, key } = await h.createKey({ permissions: ["documents.read", "documents.write"], roles: ["reader"] });
      const res = await h.post<KeysSetPermissionsResponse>(PATH, { keyId, permissions: [] });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
      expect(await keyPermissions(h, keyId)).toEqual(["documents.read"]);
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "documents.read" });
      expect(verify.body.data).toMatchObject({ valid: true, roles: ["reader"] });
    });

    it("setting the same set twice changes nothing", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const first = await h.post<KeysSetPermissionsResponse>(PATH, { keyId, permissions: ["b", "a", "a"] });
      const second = await h.post<KeysSetPermissionsResponse>(PATH, { keyId, permissions: ["a", "b"] });
      expect(first.body.data.map((p) => p.slug)).toEqual(["a", "b"]);
      expect(second.body.data).toEqual(first.body.data);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["gone"] });
      const res = await h.sdk().keys.setPermissions({ keyId, permissions: ["sdk.write"] });
      expect(res.data).toEqual([{ id: expect.stringMatching(/^perm_/), name: "sdk.write", slug: "sdk.write" }]);
      expect((await h.sdk().keys.setPermissions({ keyId, permissions: [] })).data).toEqual([]);
    });
  });

  describe("errors", () => {
    it("404 for a missing key", async () => {
      const h = await Harness.init();
      const res = await h.post(PATH, { keyId: "key_doesNotExist0000000", permissions: [] });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
    });

    it("400 for an oversized list, bad slugs, or a missing list", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const cases: Array<[unknown, string]> = [
        [{ keyId, permissions: Array.from({ length: 1001 }, (_, i) => `p${i}`) }, "body.permissions"],
        [{ keyId, permissions: ["a/b"] }, "body.permissions[0]"],
        [{ keyId }, "body.permissions"],
        [{ keyId, permissions: null }, "body.permissions"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("403 before any write when a slug is missing and the root key may not create permissions", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["exists"] });
      const narrow = await h.createRootKey(["api.*.update_key", "rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"]);
      const denied = await h.post(PATH, { keyId, permissions: ["brand.new"] }, { key: narrow });
      expect(denied.status).toBe(403);
      expect(denied.body.error.type).toBe(INSUFFICIENT);
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["exists"]);
      expect(await keyPermissions(h, keyId)).toEqual(["exists"]);
      expect((await h.post(PATH, { keyId, permissions: [] }, { key: narrow })).status).toBe(200);
    });

    it("403 without remove_permission_from_key or add_permission_to_key", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["exists"] });
      for (const rbac of ["rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"]) {
        const key = await h.createRootKey(["api.*.update_key", rbac, "rbac.*.create_permission"]);
        const res = await h.post(PATH, { keyId, permissions: [] }, { key });
        expect(res.status, rbac).toBe(403);
        expect(res.body.error.type).toBe(INSUFFICIENT);
      }
      expect(await keyPermissions(h, keyId)).toEqual(["exists"]);
    });
  });

  describeSecurity({
    operation: "keys.setPermissions",
    setup: async (h) => ({
      body: { keyId: (await h.createKey({ permissions: ["documents.read", "documents.write"] })).keyId, permissions: ["documents.read"] },
      apiId: h.apiId,
    }),
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", permissions: [] }),
  });
});
