import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { PermissionsDeleteRoleResponse } from "../../../src/routes/v2/permissions.deleteRole";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function unique(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, s: string): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", { name: s, slug: s });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function createRole(h: Harness, name: string, permissions: string[] = []): Promise<string> {
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

const MISSING = "role_doesNotExist000000000";
const DENIED = { valid: false, code: "INSUFFICIENT_PERMISSIONS" };

describe("permissions.deleteRole", () => {
  describe("happy", () => {
    it("deletes by id or name; the role is gone and its permissions stay", async () => {
      const h = await Harness.init();
      const byName = unique("by-name");
      const id = await createRole(h, unique("by-id"), ["kept.read"]);
      await createRole(h, byName);
      for (const role of [id, byName]) {
        const res = await h.post<PermissionsDeleteRoleResponse>("/v2/permissions.deleteRole", { role });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: {} });
      }
      for (const role of [id, byName]) expect((await h.post("/v2/permissions.getRole", { role })).status).toBe(404);
      expect((await h.post("/v2/permissions.getPermission", { permission: "kept.read" })).status).toBe(200);
      // The name is free again, and the new role starts empty.
      const again = await createRole(h, byName);
      expect((await h.post("/v2/permissions.getRole", { role: again })).body.data.permissions).toEqual([]);
    });

    it("every key holding the role loses it and what it granted at the very next verify, here and on a cold isolate", async () => {
      const h = await Harness.init();
      const x = unique("x");
      const y = unique("y");
      await createPermission(h, x);
      const yId = await createPermission(h, y);
      const roleName = unique("doomed");
      const keptName = unique("kept");
      const roleId = await createRole(h, roleName, [x, y]);
      const keptId = await createRole(h, keptName, [y]);
      const holder = await h.createKey();
      const alsoDirect = await h.createKey();
      const unrelated = await h.createKey();
      const withState = await h.createKey({ credits: { remaining: 100 } });
      await link(h, holder.keyId, { roles: [roleId, keptId] });
      await link(h, alsoDirect.keyId, { roles: [roleId], permissions: [yId] });
      await link(h, unrelated.keyId, { roles: [keptId] });
      await link(h, withState.keyId, { roles: [roleId] });
      for (const k of [holder, alsoDirect, withState]) expect(await check(h, k.key, x)).toMatchObject({ valid: true, code: "VALID" });
      const keys = [holder, alsoDirect, unrelated, withState];
      const before = await Promise.all(keys.map((k) => revision(k.keyId)));

      expect((await h.post("/v2/permissions.deleteRole", { role: roleName })).status).toBe(200);

      for (const k of [holder, alsoDirect, withState]) expect(await check(h, k.key, x)).toMatchObject(DENIED);
      // What the keys still hold from elsewhere survives.
      expect(await check(h, holder.key, y)).toMatchObject({ valid: true, permissions: [y], roles: [keptName] });
      expect(await check(h, alsoDirect.key, y)).toMatchObject({ valid: true, permissions: [y], roles: [] });
      expect(await check(h, withState.key, y)).toMatchObject(DENIED);
      const after = await Promise.all(keys.map((k) => revision(k.keyId)));
      expect(after).toEqual([before[0]! + 1, before[1]! + 1, before[2], before[3]! + 1]);

      recordCache(5000).clear();
      for (const k of [holder, alsoDirect, withState]) expect(await check(h, k.key, x)).toMatchObject(DENIED);
      recordCache(5000).clear();
      expect(await kvRecord(holder.key)).toMatchObject({ permissions: [y], roles: [keptName], revision: after[0] });
      expect(await kvRecord(withState.key)).toMatchObject({ permissions: [], roles: [], revision: after[3] });

      expect((await h.post("/v2/keys.getKey", { keyId: holder.keyId })).body.data).toMatchObject({ permissions: [y], roles: [keptName] });
      expect((await h.post("/v2/keys.getKey", { keyId: withState.keyId })).body.data).toMatchObject({ permissions: [], roles: [] });
      // The permissions themselves stay.
      expect((await h.post("/v2/permissions.getPermission", { permission: x })).status).toBe(200);
    });

    it("leaves another workspace's role with the same name alone", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const name = unique("shared");
      await createRole(h, name, ["p.read"]);
      const theirs = await createRole(other, name, ["p.read"]);
      const theirKey = await other.createKey();
      await link(other, theirKey.keyId, { roles: [theirs] });
      expect((await h.post("/v2/permissions.deleteRole", { role: name })).status).toBe(200);
      expect(await check(other, theirKey.key, "p.read")).toMatchObject({ valid: true, roles: [name] });
      expect((await other.post("/v2/permissions.getRole", { role: name })).body.data.id).toBe(theirs);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const name = unique("sdk");
      await createRole(h, name);
      const res = await h.sdk().permissions.deleteRole({ role: name });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({});
      // SDK 2.5.0 declares no 404 for deleteRole, so it surfaces as a generic APIError with the status.
      const again = await h.sdk().permissions.deleteRole({ role: name }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(errors.APIError);
      expect((again as errors.APIError).statusCode).toBe(404);
    });
  });

  describe("errors", () => {
    it("404 role_not_found for a missing or already deleted role", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/permissions.deleteRole", { role: MISSING });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
      const id = await createRole(h, unique("twice"));
      expect((await h.post("/v2/permissions.deleteRole", { role: id })).status).toBe(200);
      expect((await h.post("/v2/permissions.deleteRole", { role: id })).status).toBe(404);
    });

    it("400 for a missing or empty selector, or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{}, { role: "" }, { role: null }, { role: "a", force: true }]) {
        const res = await h.post("/v2/permissions.deleteRole", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });
  });

  describeSecurity({
    operation: "permissions.deleteRole",
    setup: async (h) => ({ body: { role: await createRole(h, unique("sec")) } }),
    grant: () => ["rbac.*.delete_role"],
    missing: () => ({ role: MISSING }),
  });
});
