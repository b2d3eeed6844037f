import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysRemoveRolesResponse } from "../../../src/routes/v2/keys.removeRoles";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.removeRoles";

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

describe("keys.removeRoles", () => {
  describe("happy", () => {
    it("removes roles by name or id and returns the roles left", async () => {
      const h = await Harness.init();
      const a = await createRole(h, "a", ["a.perm"]);
      await createRole(h, "b", ["b.perm"]);
      const c = await createRole(h, "c");
      const { keyId, key } = await h.createKey({ roles: ["a", "b", "c"] });
      const res = await h.post<KeysRemoveRolesResponse>(PATH, { keyId, roles: [a, "b"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toEqual([{ id: c, name: "c", permissions: [] }]);
      expect(await getKey(h, keyId)).toMatchObject({ roles: ["c"], permissions: [] });
      expect((await h.post("/v2/keys.verifyKey", { key, permissions: "a.perm OR b.perm" })).body.data.code).toBe("INSUFFICIENT_PERMISSIONS");
    });

    it("ignores roles the key does not hold, and leaves other keys alone", async () => {
      const h = await Harness.init();
      await createRole(h, "held");
      await createRole(h, "not-held");
      const { keyId } = await h.createKey({ roles: ["held"] });
      const other = await h.createKey({ roles: ["held", "not-held"] });
      const res = await h.post<KeysRemoveRolesResponse>(PATH, { keyId, roles: ["not-held"] });
      expect(res.status).toBe(200);
      expect(res.body.data.map((r) => r.name)).toEqual(["held"]);
      expect((await getKey(h, other.keyId)).roles).toEqual(["held", "not-held"]);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      await createRole(h, "gone");
      const { keyId } = await h.createKey({ roles: ["gone"] });
      const res = await h.sdk().keys.removeRoles({ keyId, roles: ["gone"] });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual([]);
    });
  });

  describe("errors", () => {
    it("404 role_not_found for a role the workspace does not have, and nothing is removed", async () => {
      const h = await Harness.init();
      await createRole(h, "a");
      const { keyId } = await h.createKey({ roles: ["a"] });
      const res = await h.post(PATH, { keyId, roles: ["a", "ghost"] });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      expect((await getKey(h, keyId)).roles).toEqual(["a"]);
    });

    it("404 key_not_found for a missing key; 400 for an empty list", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { keyId: "key_doesNotExist0000000", roles: ["a"] });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      const empty = await h.post(PATH, { keyId, roles: [] });
      expect(empty.status).toBe(400);
      expect(empty.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.roles");
    });

    it("403 with add_role_to_key instead of remove_role_from_key", async () => {
      const h = await Harness.init();
      await createRole(h, "a");
      const { keyId } = await h.createKey({ roles: ["a"] });
      const key = await h.createRootKey(["api.*.update_key", "rbac.*.add_role_to_key"]);
      const res = await h.post(PATH, { keyId, roles: ["a"] }, { key });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      expect((await getKey(h, keyId)).roles).toEqual(["a"]);
    });
  });

  describeSecurity({
    operation: "keys.removeRoles",
    setup: async (h) => {
      const name = `role_${crypto.randomUUID().slice(0, 8)}`;
      await createRole(h, name);
      return { body: { keyId: (await h.createKey({ roles: [name] })).keyId, roles: [name] }, apiId: h.apiId };
    },
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.remove_role_from_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", roles: ["admin"] }),
  });
});
