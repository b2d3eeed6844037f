import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysSetRolesResponse } from "../../../src/routes/v2/keys.setRoles";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.setRoles";

async function createRole(h: Harness, name: string, permissions: string[] = []): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", { name, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

async function getKey(h: Harness, keyId: string): Promise<KeysGetKeyResponse["data"]> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status).toBe(200);
  return res.body.data;
}

describe("keys.setRoles", () => {
  describe("happy", () => {
    it("replaces the key's roles and returns them", async () => {
      const h = await Harness.init();
      await createRole(h, "old", ["old.perm"]);
      const kept = await createRole(h, "kept", ["kept.perm"]);
      const added = await createRole(h, "added");
      const { keyId, key } = await h.createKey({ roles: ["old", "kept"] });
      const res = await h.post<KeysSetRolesResponse>(PATH, { keyId, roles: [kept, "added"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toEqual([
        { id: added, name: "added", permissions: [] },
        { id: kept, name: "kept", permissions: [{ id: expect.stringMatching(/^perm_/), name: "kept.perm", slug: "kept.perm" }] },
      ]);
      expect(await getKey(h, keyId)).toMatchObject({ roles: ["added", "kept"], permissions: ["kept.perm"] });
      expect((await h.post("/v2/keys.verifyKey", { key, permissions: "old.perm" })).body.data.code).toBe("INSUFFICIENT_PERMISSIONS");
    });

    it("[] removes every role but keeps direct permissions", async () => {
      const h = await Harness.init();
      await createRole(h, "r", ["through.role"]);
      const { keyId, key } = await h.createKey({ roles: ["r"], permissions: ["direct"] });
      const res = await h.post<KeysSetRolesResponse>(PATH, { keyId, roles: [] });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
      expect(await getKey(h, keyId)).toMatchObject({ roles: [], permissions: ["direct"] });
      expect((await h.verify(key)).roles).toEqual([]);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const roleId = await createRole(h, "sdk-role");
      await createRole(h, "other");
      const { keyId } = await h.createKey({ roles: ["other"] });
      const res = await h.sdk().keys.setRoles({ keyId, roles: ["sdk-role"] });
      expect(res.data).toEqual([{ id: roleId, name: "sdk-role", permissions: [] }]);
    });
  });

  describe("errors", () => {
    it("404 role_not_found, and the key keeps its roles", async () => {
      const h = await Harness.init();
      await createRole(h, "a");
      const { keyId } = await h.createKey({ roles: ["a"] });
      const res = await h.post(PATH, { keyId, roles: ["ghost"] });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      expect((await getKey(h, keyId)).roles).toEqual(["a"]);
    });

    it("404 key_not_found for a missing key; 400 for an oversized list", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { keyId: "key_doesNotExist0000000", roles: [] });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      const big = await h.post(PATH, { keyId, roles: Array.from({ length: 101 }, (_, i) => `r${i}`) });
      expect(big.status).toBe(400);
      expect(big.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.roles");
    });

    it("403 without remove_role_from_key or add_role_to_key", async () => {
      const h = await Harness.init();
      await createRole(h, "a");
      const { keyId } = await h.createKey({ roles: ["a"] });
      for (const rbac of ["rbac.*.add_role_to_key", "rbac.*.remove_role_from_key"]) {
        const key = await h.createRootKey(["api.*.update_key", rbac]);
        const res = await h.post(PATH, { keyId, roles: [] }, { key });
        expect(res.status, rbac).toBe(403);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      }
      expect((await getKey(h, keyId)).roles).toEqual(["a"]);
    });
  });

  describeSecurity({
    operation: "keys.setRoles",
    setup: async (h) => {
      const name = `role_${crypto.randomUUID().slice(0, 8)}`;
      await createRole(h, name);
      return { body: { keyId: (await h.createKey()).keyId, roles: [name] }, apiId: h.apiId };
    },
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.add_role_to_key", "rbac.*.remove_role_from_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", roles: [] }),
  });
});
