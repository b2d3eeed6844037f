import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { KeysAddPermissionsResponse } from "../../../src/routes/v2/keys.addPermissions";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/keys.addPermissions";
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

describe("keys.addPermissions", () => {
  describe("happy", () => {
    it("creates missing slugs, links them, and returns the key's direct permissions", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const res = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: ["documents.write", "documents.read"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.data).toEqual([
        { id: expect.stringMatching(/^perm_/), name: "documents.read", slug: "documents.read" },
        { id: expect.stringMatching(/^perm_/), name: "documents.write", slug: "documents.write" },
      ]);
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["documents.read", "documents.write"]);
      expect(await keyPermissions(h, keyId)).toEqual(["documents.read", "documents.write"]);
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "documents.read AND documents.write" });
      expect(verify.body.data).toMatchObject({ valid: true, code: "VALID", permissions: ["documents.read", "documents.write"] });
    });

    it("is idempotent and keeps what the key already has", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["a.read"] });
      const first = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: ["b.read", "b.read"] });
      expect(first.status).toBe(200);
      expect(first.body.data.map((p) => p.slug)).toEqual(["a.read", "b.read"]);
      const again = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: ["a.read", "b.read"] });
      expect(again.status).toBe(200);
      expect(again.body.data).toEqual(first.body.data);
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["a.read", "b.read"]);
    });

    it("uses existing permissions (by slug or id) with their name and description, creating nothing", async () => {
      const h = await Harness.init();
      const created = await h.post("/v2/permissions.createPermission", { name: "Read documents", slug: "documents.read", description: "Lets the key read" });
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      const permissionId: string = created.body.data.permissionId;
      const other = await h.post("/v2/permissions.createPermission", { name: "Write documents", slug: "documents.write" });
      const { keyId } = await h.createKey();
      const res = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: [permissionId, "documents.write"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toEqual([
        { id: permissionId, name: "Read documents", slug: "documents.read", description: "Lets the key read" },
        { id: other.body.data.permissionId, name: "Write documents", slug: "documents.write" },
      ]);
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["documents.read", "documents.write"]);
    });

    it("returns only direct permissions; getKey merges those through roles without duplicates", async () => {
      const h = await Harness.init();
      const role = await h.post("/v2/permissions.createRole", { name: "editor", permissions: ["documents.read", "documents.write"] });
      expect(role.status, JSON.stringify(role.body)).toBe(200);
      const { keyId } = await h.createKey({ roles: ["editor"] });
      const res = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: ["documents.read", "billing.view"] });
      expect(res.body.data.map((p) => p.slug)).toEqual(["billing.view", "documents.read"]);
      expect(await keyPermissions(h, keyId)).toEqual(["billing.view", "documents.read", "documents.write"]);
    });

    it("takes 1000 slugs at once (D1's parameter cap is met by chunking)", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const slugs = Array.from({ length: 1000 }, (_, i) => `feature.${String(i).padStart(4, "0")}`);
      const res = await h.post<KeysAddPermissionsResponse>(PATH, { keyId, permissions: slugs });
      expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
      expect(res.body.data.map((p) => p.slug)).toEqual(slugs);
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "feature.0000 AND feature.0999" });
      expect(verify.body.data.code).toBe("VALID");
    });

    it("the six key permission/role operations are in the OpenAPI document with Unkey's Permission and Role", async () => {
      const res = await exports.default.fetch(new Request("http://latch.test/openapi.json"));
      const doc = (await res.json()) as any;
      for (const op of ["addPermissions", "setPermissions", "removePermissions", "addRoles", "setRoles", "removeRoles"]) {
        expect(doc.paths[`/v2/keys.${op}`]?.post?.operationId, op).toBe(`keys.${op}`);
      }
      expect(doc.components.schemas.Permission.required.sort()).toEqual(["id", "name", "slug"]);
      expect(doc.components.schemas.Role.required.sort()).toEqual(["id", "name"]);
      const createKey = doc.paths["/v2/keys.createKey"].post.requestBody.content["application/json"].schema;
      const body = createKey.$ref ? doc.components.schemas[createKey.$ref.split("/").pop()] : createKey;
      expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(["permissions", "roles"]));
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const res = await h.sdk().keys.addPermissions({ keyId, permissions: ["sdk.read"] });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual([{ id: expect.stringMatching(/^perm_/), name: "sdk.read", slug: "sdk.read" }]);
    });
  });

  describe("errors", () => {
    it("404 for a missing or deleted key", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { keyId: "key_doesNotExist0000000", permissions: ["a"] });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      await h.post("/v2/keys.deleteKey", { keyId });
      expect((await h.post(PATH, { keyId, permissions: ["a"] })).status).toBe(404);
      expect(await slugsInWorkspace(h.workspaceId)).toEqual([]);
    });

    it("400 for an empty or oversized list, bad slugs, and unknown fields", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const cases: Array<[unknown, string]> = [
        [{ keyId, permissions: [] }, "body.permissions"],
        [{ keyId, permissions: Array.from({ length: 1001 }, (_, i) => `p${i}`) }, "body.permissions"],
        [{ keyId, permissions: ["has space"] }, "body.permissions[0]"],
        [{ keyId, permissions: ["ok", ""] }, "body.permissions[1]"],
        [{ keyId, permissions: ["x".repeat(129)] }, "body.permissions[0]"],
        [{ keyId, permissions: "a" }, "body.permissions"],
        [{ keyId }, "body.permissions"],
        [{ permissions: ["a"] }, "body.keyId"],
        [{ keyId, permissions: ["a"], extra: 1 }, "body.extra"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      expect(await slugsInWorkspace(h.workspaceId)).toEqual([]);
    });

    it("403 before any write when a slug is missing and the root key may not create permissions", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["exists"] });
      const narrow = await h.createRootKey(["api.*.update_key", "rbac.*.add_permission_to_key"]);
      const denied = await h.post(PATH, { keyId, permissions: ["exists", "brand.new"] }, { key: narrow });
      expect(denied.status).toBe(403);
      expect(denied.body.error.type).toBe(INSUFFICIENT);
      expect(denied.body.error.detail).toContain("rbac.*.create_permission");
      expect(await slugsInWorkspace(h.workspaceId)).toEqual(["exists"]);
      expect(await keyPermissions(h, keyId)).toEqual(["exists"]);
      // Existing permissions need no create_permission; with it, the new slug is created.
      expect((await h.post(PATH, { keyId, permissions: ["exists"] }, { key: narrow })).status).toBe(200);
      const creator = await h.createRootKey(["api.*.update_key", "rbac.*.add_permission_to_key", "rbac.*.create_permission"]);
      expect((await h.post(PATH, { keyId, permissions: ["brand.new"] }, { key: creator })).status).toBe(200);
      expect(await keyPermissions(h, keyId)).toEqual(["brand.new", "exists"]);
    });

    it("403 with update_key alone or the rbac permission alone", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ permissions: ["exists"] });
      for (const perms of [["api.*.update_key"], ["rbac.*.add_permission_to_key", "rbac.*.create_permission"]]) {
        const key = await h.createRootKey(perms);
        const res = await h.post(PATH, { keyId, permissions: ["exists"] }, { key });
        expect(res.status, perms.join()).toBe(403);
        expect(res.body.error.type).toBe(INSUFFICIENT);
      }
    });
  });

  describeSecurity({
    operation: "keys.addPermissions",
    setup: async (h) => ({
      // The slug exists already, so the narrowest grant needs no create_permission.
      body: { keyId: (await h.createKey({ permissions: ["documents.read"] })).keyId, permissions: ["documents.read"] },
      apiId: h.apiId,
    }),
    grant: (apiId = "*") => [`api.${apiId}.update_key`, "rbac.*.add_permission_to_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000", permissions: ["documents.read"] }),
  });
});
