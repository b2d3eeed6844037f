import { describe, expect, it } from "vitest";
import type { KeysAddRolesResponse } from "../../../src/routes/v2/keys.addRoles";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.addRoles";

async function createRole(h: Harness, name: string, permissions: string[] = [], description?: string): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", { name, permissions, ...(description ? { description } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

async function getKey(h: Harness, keyId: string): Promise<KeysGetKeyResponse["data"]> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status).toBe(200);
  return res.body.data;
}

describe("keys.addRoles", () => {
  describe("happy", () => {
    it("adds roles by name or id and returns the key's roles with their permissions", async () => {
      const h = await Harness.init();
      const editor = await createRole(h, "editor", ["documents.write", "documents.read"], "Edits documents");
      const viewer = await createRole(h, "viewer", []);
      const { keyId, key } = await h.createKey();
      const res = await h.post<KeysAddRolesResponse>(PATH, { keyId, roles: ["viewer", editor] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.data).toEqual([
        {
          id: editor,
          name: "editor",
          description: "Edits documents",
          permissions: [
            { id: expect.stringMatching(/^perm_/), name: "documents.read", slug: "documents.read" },
            { id: expect.stringMatching(/^perm_/), name: "documents.write", slug: "documents.write" },
          ],
        },
        { id: viewer, name: "viewer", permissions: [] },
      ]);
      expect(await getKey(h, keyId)).toMatchObject({ roles: ["editor", "viewer"], permissions: ["documents.read", "documents.write"] });
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "documents.write" });
      expect(verify.body.data).toMatchObject({ valid: true, roles: ["editor", "viewer"] });
    });

    it("is idempotent and keeps the roles the key already has", async () => {
      const h = await Harness.init();
      await createRole(h, "a");
      await createRole(h, "b");
      const { keyId } = await h.createKey({ roles: ["a"] });
      const first = await h.post<KeysAddRolesResponse>(PATH, { keyId, roles: ["b", "b"] });
      expect(first.body.data.map((r) => r.name)).toEqual(["a", "b"]);
      const again = await h.post<KeysAddRolesResponse>(PATH, { keyId, roles: ["a", "b"] });
      expect(again.body.data).toEqual(first.body.data);
      expect((await getKey(h, keyId)).roles).toEqual(["a", "b"]);
    });

    it("permissions held directly and through a role are listed once", async () => {
      const h = await Harness.init();
      await createRole(h, "reader", ["documents.read"]);
      const { keyId, key } = await h.createKey({ permissions: ["documents.read", "billing.view"] });
      await h.post(PATH, { keyId, roles: ["reader"] });
      expect((await getKey(h, keyId)).permissions).toEqual(["billing.view", "documents.read"]);
      expect((await h.verify(key)).permissions).toEqual(["billing.view", "documents.read"]);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const roleId = await createRole(h, "sdk-role", ["sdk.read"]);
      const { keyId } = await h.createKey();
      const res = await h.sdk().keys.addRoles({ keyId, roles: ["sdk-role"] });
      expect(res.data).toEqual([
        { id: roleId, name: "sdk-role", permissions: [{ id: expect.stringMatching(/^perm_/), name: "sdk.read", slug: "sdk.read" }] },
      ]);
    });
  });

  describe("errors", () => {
    it("404 role_not_found names the role, and nothing is added", async () => {
      const h = await Harness.init();
      await createRole(h, "exists");
      const { keyId } = await h.createKey();
      const res = await h.post(PATH, { keyId, roles: ["exists", "ghost"] });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      expect(res.body.error.detail).toContain("ghost");
      expect((await getKey(h, keyId)).roles).toEqual([]);
    });

    it("another workspace's role is as unknown as a missing one, by name or id", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const theirRole = await createRole(theirs, "shared-name");
      const { keyId } = await h.createKey();
      for (const ref of [theirRole, "shared-name"]) {
        const res = await h.post(PATH, { keyId, roles: [ref] });
        expect(res.status, ref).toBe(404);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      }
    });

    it("404 key_not_found for a missing key; 400 for an empty or oversized list", async () => {
      const h = await Harness.init();
      await createRole(h, "r");
      const missing = await h.post(PATH, { keyId: "key_doesNotExist0000000", roles: ["r"] });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      for (const [body, location] of [
        [{ keyId, roles: [] }, "body.roles"],
        [{ keyId, roles: Array.from({ length: 101 }, (_, i) => `r${i}`) }, "body.roles"],
        [{ keyId, roles: [""] }, "body.roles[0]"],
        [{ keyId, roles: ["x".repeat(129)] }, "body.roles[0]"],
        [{ keyId }, "body.roles"],
      ] as const) {
        const res = await h.post(PATH, body);
        expect(res.status).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("403 without add_role_to_key, or with update_key for another API", async () => {
      const h = await Harness.init();
      await createRole(h, "r");
      const { keyId } = await h.createKey();
      const otherApi = await h.createApi();
      for (const perms of [["api.*.update_key", "rbac.*.remove_role_from_key"], [`api.${otherApi}.update_key`, "rbac.*.add_role_to_key"]]) {
        const key = await h.createRootKey(perms);
        const res = await h.post(PATH, { keyId, roles: ["r"] }, { key });
        expect(res.status, perms.join()).toBe(403);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      }
      expect((await getKey(h, keyId)).roles).toEqual([]);
    });
  });

  describeSecurity({
    operation: "keys.addRoles",
    setup: async (h) => {
      const name = `role_${crypto.randomUUID().slice(0, 8)}`;
      await createRole(h, name, ["documents.read"]);
      return { body: { keyId: (await h.createKey()).keyId, roles: [name] }, apiId: h.apiId };
    },
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.add_role_to_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", roles: ["admin"] }),
  });
});
