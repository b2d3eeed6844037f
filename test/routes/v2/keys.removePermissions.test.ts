import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysRemovePermissionsResponse } from "../../../src/routes/v2/keys.removePermissions";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.removePermissions";

async function keyPermissions(h: Harness, keyId: string): Promise<string[] | undefined> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status).toBe(200);
  return res.body.data.permissions;
}

async function permissionCount(workspaceId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM permissions WHERE workspace_id = ?").bind(workspaceId).first<{ n: number }>();
  return row!.n;
}

describe("keys.removePermissions", () => {
  describe("happy", () => {
    it("removes direct permissions and returns those left", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ permissions: ["a", "b", "c"] });
      const res = await h.post<KeysRemovePermissionsResponse>(PATH, { keyId, permissions: ["a", "c"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toEqual([{ id: expect.stringMatching(/^perm_/), name: "b", slug: "b" }]);
      expect(await keyPermissions(h, keyId)).toEqual(["b"]);
      // The permissions stay in the workspace.
      expect(await permissionCount(h.workspaceId)).toBe(3);
      expect((await h.post("/v2/keys.verifyKey", { key, permissions: "a" })).body.data.code).toBe("INSUFFICIENT_PERMISSIONS");
    });

    it("accepts permission ids, and ignores permissions the key does not hold", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["a", "b"] });
      const other = await h.createKey({ permissions: ["elsewhere"] });
      const added = await h.post(`/v2/keys.addPermissions`, { keyId, permissions: ["a"] });
      const idOfA: string = added.body.data.find((p: { slug: string }) => p.slug === "a").id;
      const res = await h.post<KeysRemovePermissionsResponse>(PATH, { keyId, permissions: [idOfA, "elsewhere"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.map((p) => p.slug)).toEqual(["b"]);
      // The other key keeps its link.
      expect(await keyPermissions(h, other.keyId)).toEqual(["elsewhere"]);
    });

    it("leaves permissions through roles in place", async () => {
      const h = await Harness.init();
      const role = await h.post("/v2/permissions.createRole", { name: "reader", permissions: ["documents.read"] });
      expect(role.status, JSON.stringify(role.body)).toBe(200);
      const { keyId, key } = await h.createKey({ permissions: ["documents.read"], roles: ["reader"] });
      const res = await h.post<KeysRemovePermissionsResponse>(PATH, { keyId, permissions: ["documents.read"] });
      expect(res.body.data).toEqual([]);
      expect(await keyPermissions(h, keyId)).toEqual(["documents.read"]);
      expect((await h.post("/v2/keys.verifyKey", { key, permissions: "documents.read" })).body.data.code).toBe("VALID");
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["x", "y"] });
      const res = await h.sdk().keys.removePermissions({ keyId, permissions: ["x"] });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual([{ id: expect.stringMatching(/^perm_/), name: "y", slug: "y" }]);
    });
  });

  describe("errors", () => {
    it("404 permission_not_found for a permission the workspace does not have, and nothing is removed", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["a"] });
      const res = await h.post(PATH, { keyId, permissions: ["a", "never.created"] });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/permission_not_found");
      expect(res.body.error.detail).toContain("never.created");
      expect(await keyPermissions(h, keyId)).toEqual(["a"]);
      expect(await permissionCount(h.workspaceId)).toBe(1);
    });

    it("another workspace's permission is as unknown as a missing one", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const added = await theirs.post("/v2/keys.addPermissions", { keyId: (await theirs.createKey()).keyId, permissions: ["theirs.only"] });
      const theirId: string = added.body.data[0].id;
      const { keyId } = await h.createKey({ permissions: ["a"] });
      for (const ref of [theirId, "theirs.only"]) {
        const res = await h.post(PATH, { keyId, permissions: [ref] });
        expect(res.status, ref).toBe(404);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/permission_not_found");
      }
    });

    it("404 key_not_found for a missing key; 400 for an empty list or bad slugs", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { keyId: "key_doesNotExist0000000", permissions: ["a"] });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      for (const [body, location] of [
        [{ keyId, permissions: [] }, "body.permissions"],
        [{ keyId, permissions: ["a b"] }, "body.permissions[0]"],
        [{ keyId, permissions: Array.from({ length: 1001 }, () => "a") }, "body.permissions"],
      ] as const) {
        const res = await h.post(PATH, body);
        expect(res.status).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("403 with add_permission_to_key instead of remove_permission_from_key", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["a"] });
      const key = await h.createRootKey(["api.*.update_key", "rbac.*.add_permission_to_key"]);
      const res = await h.post(PATH, { keyId, permissions: ["a"] }, { key });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      expect(await keyPermissions(h, keyId)).toEqual(["a"]);
    });
  });

  describeSecurity({
    operation: "keys.removePermissions",
    setup: async (h) => ({
      body: { keyId: (await h.createKey({ permissions: ["documents.read"] })).keyId, permissions: ["documents.read"] },
      apiId: h.apiId,
    }),
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.remove_permission_from_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", permissions: ["documents.read"] }),
  });
});
