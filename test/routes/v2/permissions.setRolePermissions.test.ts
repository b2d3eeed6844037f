/**
 * setRolePermissions is not in @unkey/api 2.5.0, so it is tested over plain HTTP only.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { PermissionsSetRolePermissionsResponse } from "../../../src/routes/v2/permissions.setRolePermissions";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function unique(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, s: string, description?: string): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", { name: `Name of ${s}`, slug: s, description });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function createRole(h: Harness, name: string, permissions: string[] = []): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", { name, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

type ErrorBody = { error: { type: string; detail: string } };

async function set(h: Harness, roleId: string, permissions: string[], key?: string) {
  return h.post<PermissionsSetRolePermissionsResponse & ErrorBody>("/v2/permissions.setRolePermissions", { roleId, permissions }, { key });
}

async function slugsOf(h: Harness, role: string): Promise<string[]> {
  const res = await h.post("/v2/permissions.getRole", { role });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissions.map((p: { slug: string }) => p.slug);
}

/**
 * Gives a key roles straight in D1 (keys.addRoles has its own tests), then republishes it with a no-op
 * rename so its record carries them.
 */
async function giveRoles(h: Harness, keyId: string, roleIds: string[]): Promise<void> {
  for (const roleId of roleIds) {
    await env.DB.prepare("INSERT INTO keys_roles (key_id, role_id, workspace_id, created_at) VALUES (?, ?, ?, ?)")
      .bind(keyId, roleId, h.workspaceId, Date.now())
      .run();
  }
  expect((await h.post("/v2/keys.updateKey", { keyId, name: "linked" })).status).toBe(200);
}

async function check(h: Harness, key: string, permissions: string): Promise<{ valid: boolean; code: string }> {
  const res = await h.post("/v2/keys.verifyKey", { key, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

async function revision(keyId: string): Promise<number> {
  return (await env.DB.prepare("SELECT revision FROM keys WHERE id = ?").bind(keyId).first<number>("revision"))!;
}

async function kvPermissions(key: string): Promise<string[]> {
  const entry = await env.EDGE.get<{ record: { permissions: string[] } }>(`key:hash:${await hashKey(key)}`, "json");
  return entry!.record.permissions;
}

const MISSING = "role_doesNotExist000000000";
const DENIED = { valid: false, code: "INSUFFICIENT_PERMISSIONS" };

describe("permissions.setRolePermissions", () => {
  describe("happy", () => {
    it("replaces the role's permissions and returns them, creating missing slugs", async () => {
      const h = await Harness.init();
      const readId = await createPermission(h, "docs.read", "reads");
      await createPermission(h, "docs.write");
      const roleId = await createRole(h, unique("editor"), ["docs.read", "docs.write"]);
      const res = await set(h, roleId, ["docs.read", "docs.delete", "docs.read"]);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      const deleteId = (await h.post("/v2/permissions.getPermission", { permission: "docs.delete" })).body.data.id;
      expect(res.body.data).toEqual([
        { id: deleteId, name: "docs.delete", slug: "docs.delete" },
        { id: readId, name: "Name of docs.read", slug: "docs.read", description: "reads" },
      ]);
      expect(await slugsOf(h, roleId)).toEqual(["docs.delete", "docs.read"]);
      // The permission taken off the role still exists.
      expect((await h.post("/v2/permissions.getPermission", { permission: "docs.write" })).status).toBe(200);
    });

    it("names the role by id or name; an empty list clears it", async () => {
      const h = await Harness.init();
      const name = unique("clear");
      const roleId = await createRole(h, name, ["a.read", "b.read"]);
      const res = await set(h, name, []);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
      expect(await slugsOf(h, roleId)).toEqual([]);
      expect((await set(h, roleId, ["c.read"])).body.data.map((p) => p.slug)).toEqual(["c.read"]);
    });

    it("takes lists longer than D1's 100 bound parameters per statement", async () => {
      const h = await Harness.init();
      const roleId = await createRole(h, unique("bulk"), ["old.one"]);
      const slugs = Array.from({ length: 230 }, (_, i) => `bulk.${String(i).padStart(3, "0")}`);
      const res = await set(h, roleId, slugs);
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      expect(res.body.data.map((p) => p.slug)).toEqual(slugs);
      expect(await slugsOf(h, roleId)).toEqual(slugs);
    });

    it("every key holding the role sees the change at the very next verify, here and on a cold isolate", async () => {
      const h = await Harness.init();
      const roleId = await createRole(h, unique("r"), ["x", "y"]);
      const otherRole = await createRole(h, unique("other"), ["x"]);
      const holder = await h.createKey();
      const withState = await h.createKey({ credits: { remaining: 100 } });
      const viaOther = await h.createKey();
      await giveRoles(h, holder.keyId, [roleId]);
      await giveRoles(h, withState.keyId, [roleId]);
      await giveRoles(h, viaOther.keyId, [otherRole]);
      for (const k of [holder, withState, viaOther]) expect(await check(h, k.key, "x")).toMatchObject({ valid: true, code: "VALID" });
      expect(await check(h, holder.key, "z")).toMatchObject(DENIED);
      const before = await Promise.all([holder, withState, viaOther].map((k) => revision(k.keyId)));

      expect((await set(h, roleId, ["y", "z"])).status).toBe(200);

      for (const k of [holder, withState]) {
        expect(await check(h, k.key, "x")).toMatchObject(DENIED);
        expect(await check(h, k.key, "y AND z")).toMatchObject({ valid: true });
      }
      // A key that holds x through another role keeps it, and was not touched.
      expect(await check(h, viaOther.key, "x")).toMatchObject({ valid: true });
      const after = await Promise.all([holder, withState, viaOther].map((k) => revision(k.keyId)));
      expect(after).toEqual([before[0]! + 1, before[1]! + 1, before[2]]);

      recordCache(5000).clear();
      for (const k of [holder, withState]) {
        expect(await check(h, k.key, "x")).toMatchObject(DENIED);
        expect(await check(h, k.key, "z")).toMatchObject({ valid: true });
      }
      recordCache(5000).clear();
      expect(await kvPermissions(holder.key)).toEqual(["y", "z"]);
      expect((await h.post("/v2/keys.getKey", { keyId: holder.keyId })).body.data.permissions).toEqual(["y", "z"]);

      // Emptying the role takes everything it granted.
      expect((await set(h, roleId, [])).status).toBe(200);
      expect(await check(h, holder.key, "y OR z")).toMatchObject(DENIED);
      recordCache(5000).clear();
      expect(await check(h, withState.key, "y OR z")).toMatchObject(DENIED);
      expect((await h.post("/v2/keys.getKey", { keyId: holder.keyId })).body.data.permissions).toEqual([]);
    });

    it("setting the same set again changes nothing, not even key revisions", async () => {
      const h = await Harness.init();
      const roleId = await createRole(h, unique("same"), ["s.one", "s.two"]);
      const k = await h.createKey();
      await giveRoles(h, k.keyId, [roleId]);
      const before = await revision(k.keyId);
      const res = await set(h, roleId, ["s.two", "s.one"]);
      expect(res.status).toBe(200);
      expect(res.body.data.map((p) => p.slug)).toEqual(["s.one", "s.two"]);
      expect(await revision(k.keyId)).toBe(before);
    });
  });

  describe("errors", () => {
    it("404 role_not_found for a missing role, without creating any permission", async () => {
      const h = await Harness.init();
      const s = unique("orphan");
      const res = await set(h, MISSING, [s]);
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      expect((await h.post("/v2/permissions.getPermission", { permission: s })).status).toBe(404);
    });

    it("needs add and remove_permission_from_role; creating missing slugs needs create_permission too", async () => {
      const h = await Harness.init();
      await createPermission(h, "exists");
      const roleId = await createRole(h, unique("guarded"), ["exists"]);
      const forbidden = "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions";
      const addOnly = await h.createRootKey(["rbac.*.add_permission_to_role"]);
      const removeOnly = await h.createRootKey(["rbac.*.remove_permission_from_role"]);
      const both = await h.createRootKey(["rbac.*.add_permission_to_role", "rbac.*.remove_permission_from_role"]);
      const all = await h.createRootKey([
        "rbac.*.add_permission_to_role",
        "rbac.*.remove_permission_from_role",
        "rbac.*.create_permission",
      ]);
      for (const key of [addOnly, removeOnly]) {
        const res = await set(h, roleId, [], key);
        expect(res.status).toBe(403);
        expect(res.body.error.type).toBe(forbidden);
      }
      expect(await slugsOf(h, roleId)).toEqual(["exists"]);
      const noCreate = await set(h, roleId, ["exists", "brand.new"], both);
      expect(noCreate.status).toBe(403);
      expect(noCreate.body.error.detail).toContain("rbac.*.create_permission");
      // Refused before anything was written.
      expect((await h.post("/v2/permissions.getPermission", { permission: "brand.new" })).status).toBe(404);
      expect(await slugsOf(h, roleId)).toEqual(["exists"]);
      expect((await set(h, roleId, [], both)).status).toBe(200);
      expect((await set(h, roleId, ["exists", "brand.new"], all)).status).toBe(200);
      expect(await slugsOf(h, roleId)).toEqual(["brand.new", "exists"]);
    });

    it("400 for a bad roleId or permission list, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ permissions: [] }, "body.roleId"],
        [{ roleId: "", permissions: [] }, "body.roleId"],
        [{ roleId: "r" }, "body.permissions"],
        [{ roleId: "r", permissions: null }, "body.permissions"],
        [{ roleId: "r", permissions: ["ok", "not ok"] }, "body.permissions[1]"],
        [{ roleId: "r", permissions: [""] }, "body.permissions[0]"],
        [{ roleId: "r", permissions: Array.from({ length: 1001 }, (_, i) => `p${i}`) }, "body.permissions"],
        [{ roleId: "r", permissions: [], role: "r" }, "body.role"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.setRolePermissions", body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });
  });

  describeSecurity({
    operation: "permissions.setRolePermissions",
    setup: async (h) => {
      const s = unique("sec");
      await createPermission(h, s);
      return { body: { roleId: await createRole(h, unique("sec")), permissions: [s] } };
    },
    grant: () => ["rbac.*.add_permission_to_role", "rbac.*.remove_permission_from_role"],
    missing: () => ({ roleId: MISSING, permissions: [] }),
  });
});
