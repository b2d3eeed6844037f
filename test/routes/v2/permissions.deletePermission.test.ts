import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { PermissionsDeletePermissionResponse } from "../../../src/routes/v2/permissions.deletePermission";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function slug(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, s: string): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", { name: s, slug: s });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function createRole(h: Harness, name: string, permissions: string[]): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", { name, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

/**
 * Gives a key roles and direct permissions straight in D1 (keys.addRoles/addPermissions have their own
 * tests), then republishes it with a no-op rename so its record carries them.
 */
async function link(h: Harness, keyId: string, opts: { roles?: string[]; permissions?: string[] }): Promise<void> {
  const now = Date.now();
  for (const roleId of opts.roles ?? []) {
    await env.DB.prepare("INSERT INTO keys_roles (key_id, role_id, workspace_id, created_at) VALUES (?, ?, ?, ?)")
      .bind(keyId, roleId, h.workspaceId, now)
      .run();
  }
  for (const permissionId of opts.permissions ?? []) {
    await env.DB.prepare("INSERT INTO keys_permissions (key_id, permission_id, workspace_id, created_at) VALUES (?, ?, ?, ?)")
      .bind(keyId, permissionId, h.workspaceId, now)
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

async function kvRecord(key: string): Promise<{ permissions: string[]; roles: string[]; revision: number }> {
  const entry = await env.EDGE.get<{ record: { permissions: string[]; roles: string[]; revision: number } }>(`key:hash:${await hashKey(key)}`, "json");
  return entry!.record;
}

const MISSING = "perm_doesNotExist000000000";
const DENIED = { valid: false, code: "INSUFFICIENT_PERMISSIONS" };

describe("permissions.deletePermission", () => {
  describe("happy", () => {
    it("deletes by id or slug; the permission is gone afterwards", async () => {
      const h = await Harness.init();
      const byId = slug("by-id");
      const bySlug = slug("by-slug");
      const id = await createPermission(h, byId);
      await createPermission(h, bySlug);
      for (const permission of [id, bySlug]) {
        const res = await h.post<PermissionsDeletePermissionResponse>("/v2/permissions.deletePermission", { permission });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: {} });
      }
      for (const permission of [id, byId, bySlug]) {
        expect((await h.post("/v2/permissions.getPermission", { permission })).status).toBe(404);
      }
      // The slug is free again.
      expect((await h.post("/v2/permissions.createPermission", { name: "again", slug: byId })).status).toBe(200);
    });

    it("every key holding it, directly or through a role, loses it at the very next verify, here and on a cold isolate", async () => {
      const h = await Harness.init();
      const x = slug("x");
      const y = slug("y");
      const xId = await createPermission(h, x);
      const yId = await createPermission(h, y);
      const roleName = slug("role");
      const roleId = await createRole(h, roleName, [x, y]);
      const viaRole = await h.createKey();
      const direct = await h.createKey();
      const unrelated = await h.createKey();
      // Credits make verifies go through the key's Durable Object, which must learn the new revision too.
      const withState = await h.createKey({ credits: { remaining: 100 } });
      await link(h, viaRole.keyId, { roles: [roleId] });
      await link(h, direct.keyId, { permissions: [xId] });
      await link(h, unrelated.keyId, { permissions: [yId] });
      await link(h, withState.keyId, { roles: [roleId] });
      for (const k of [viaRole, direct, withState]) expect(await check(h, k.key, x)).toMatchObject({ valid: true, code: "VALID" });
      expect(await check(h, unrelated.key, y)).toMatchObject({ valid: true });
      const before = await Promise.all([viaRole, direct, unrelated, withState].map((k) => revision(k.keyId)));

      expect((await h.post("/v2/permissions.deletePermission", { permission: x })).status).toBe(200);

      for (const k of [viaRole, direct, withState]) expect(await check(h, k.key, x)).toMatchObject(DENIED);
      expect(await check(h, viaRole.key, y)).toMatchObject({ valid: true, permissions: [y], roles: [roleName] });
      expect(await check(h, unrelated.key, y)).toMatchObject({ valid: true });
      // Exactly the affected keys got a new revision.
      const after = await Promise.all([viaRole, direct, unrelated, withState].map((k) => revision(k.keyId)));
      expect(after).toEqual([before[0]! + 1, before[1]! + 1, before[2], before[3]! + 1]);

      // A cold isolate reads KV, which already holds the new records.
      recordCache(5000).clear();
      for (const k of [viaRole, direct, withState]) expect(await check(h, k.key, x)).toMatchObject(DENIED);
      recordCache(5000).clear();
      expect(await kvRecord(viaRole.key)).toMatchObject({ permissions: [y], roles: [roleName], revision: after[0] });
      expect(await kvRecord(direct.key)).toMatchObject({ permissions: [], revision: after[1] });

      expect((await h.post("/v2/keys.getKey", { keyId: viaRole.keyId })).body.data).toMatchObject({ permissions: [y], roles: [roleName] });
      expect((await h.post("/v2/keys.getKey", { keyId: direct.keyId })).body.data.permissions).toEqual([]);
      const role = await h.post("/v2/permissions.getRole", { role: roleId });
      expect(role.body.data.permissions).toEqual([{ id: yId, name: y, slug: y }]);
    });

    it("leaves another workspace's permission with the same slug alone", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const s = slug("shared");
      await createPermission(h, s);
      const theirId = await createPermission(other, s);
      const theirKey = await other.createKey();
      await link(other, theirKey.keyId, { permissions: [theirId] });
      expect((await h.post("/v2/permissions.deletePermission", { permission: s })).status).toBe(200);
      expect(await other.verify(theirKey.key)).toMatchObject({ valid: true, permissions: [s] });
      expect((await other.post("/v2/keys.verifyKey", { key: theirKey.key, permissions: s })).body.data.valid).toBe(true);
      expect((await other.post("/v2/permissions.getPermission", { permission: s })).body.data.id).toBe(theirId);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const s = slug("sdk");
      await createPermission(h, s);
      const res = await h.sdk().permissions.deletePermission({ permission: s });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({});
      await expect(h.sdk().permissions.deletePermission({ permission: s })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("404 permission_not_found for a missing or already deleted permission", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/permissions.deletePermission", { permission: MISSING });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/permission_not_found");
      const id = await createPermission(h, slug("twice"));
      expect((await h.post("/v2/permissions.deletePermission", { permission: id })).status).toBe(200);
      expect((await h.post("/v2/permissions.deletePermission", { permission: id })).status).toBe(404);
    });

    it("400 for a missing or empty selector, or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{}, { permission: "" }, { permission: 1 }, { permission: "a", cascade: true }]) {
        const res = await h.post("/v2/permissions.deletePermission", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });
  });

  describeSecurity({
    operation: "permissions.deletePermission",
    setup: async (h) => ({ body: { permission: await createPermission(h, slug("sec")) } }),
    grant: () => ["rbac.*.delete_permission"],
    missing: () => ({ permission: MISSING }),
  });
});
