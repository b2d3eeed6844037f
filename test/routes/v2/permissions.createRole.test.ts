import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { PermissionsCreateRoleResponse } from "../../../src/routes/v2/permissions.createRole";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function unique(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, s: string): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", { name: `Name of ${s}`, slug: s });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function getRole(h: Harness, role: string) {
  const res = await h.post("/v2/permissions.getRole", { role });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

describe("permissions.createRole", () => {
  describe("happy", () => {
    it("creates a role with a name and description and no permissions", async () => {
      const h = await Harness.init();
      const name = unique("editor");
      const res = await h.post<PermissionsCreateRoleResponse>("/v2/permissions.createRole", { name, description: "Edits things" });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: { roleId: expect.stringMatching(/^role_/) } });
      expect(await getRole(h, res.body.data.roleId)).toEqual({ id: res.body.data.roleId, name, description: "Edits things", permissions: [] });
      const bare = await h.post("/v2/permissions.createRole", { name: "r".repeat(128) });
      expect(bare.status).toBe(200);
      expect(await getRole(h, bare.body.data.roleId)).toEqual({ id: bare.body.data.roleId, name: "r".repeat(128), permissions: [] });
    });

    it("attaches the named permissions, creating missing slugs (name = slug)", async () => {
      const h = await Harness.init();
      const existing = unique("docs.read");
      const existingId = await createPermission(h, existing);
      const fresh = unique("docs.write");
      const res = await h.post("/v2/permissions.createRole", { name: unique("writer"), permissions: [existing, fresh, existing] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const role = await getRole(h, res.body.data.roleId);
      const freshPerm = (await h.post("/v2/permissions.getPermission", { permission: fresh })).body.data;
      expect(freshPerm).toEqual({ id: expect.stringMatching(/^perm_/), name: fresh, slug: fresh });
      expect(role.permissions).toEqual(
        [
          { id: existingId, name: `Name of ${existing}`, slug: existing },
          { id: freshPerm.id, name: fresh, slug: fresh },
        ].sort((a, b) => (a.slug < b.slug ? -1 : 1)),
      );
    });

    it("takes lists longer than D1's 100 bound parameters per statement", async () => {
      const h = await Harness.init();
      const slugs = Array.from({ length: 250 }, (_, i) => `bulk.${String(i).padStart(3, "0")}`);
      await createPermission(h, slugs[7]!);
      const res = await h.post("/v2/permissions.createRole", { name: unique("bulk"), permissions: slugs });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const role = await getRole(h, res.body.data.roleId);
      expect(role.permissions.map((p: { slug: string }) => p.slug)).toEqual(slugs);
    });

    it("the same name may exist in another workspace; slugs resolve in the caller's workspace only", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const name = unique("shared");
      const s = unique("only.theirs");
      const theirPerm = await createPermission(other, s);
      expect((await other.post("/v2/permissions.createRole", { name })).status).toBe(200);
      const mine = await h.post("/v2/permissions.createRole", { name, permissions: [s] });
      expect(mine.status).toBe(200);
      // The slug was created in my workspace, not linked to theirs.
      const role = await getRole(h, mine.body.data.roleId);
      expect(role.permissions).toHaveLength(1);
      expect(role.permissions[0].id).not.toBe(theirPerm);
      expect((await other.post("/v2/permissions.getPermission", { permission: s })).body.data.id).toBe(theirPerm);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const name = unique("sdk");
      const res = await h.sdk().permissions.createRole({ name, description: "from the sdk" });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data.roleId).toMatch(/^role_/);
      expect((await h.sdk().permissions.getRole({ role: name })).data).toEqual({ id: res.data.roleId, name, description: "from the sdk", permissions: [] });
      await expect(h.sdk().permissions.createRole({ name })).rejects.toBeInstanceOf(errors.ConflictErrorResponse);
    });
  });

  describe("errors", () => {
    it("409 role_already_exists for a taken name, and the refused request creates no permissions", async () => {
      const h = await Harness.init();
      const name = unique("dup");
      const first = await h.post("/v2/permissions.createRole", { name, description: "first" });
      expect(first.status).toBe(200);
      const s = unique("never.created");
      const res = await h.post("/v2/permissions.createRole", { name, permissions: [s] });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ status: 409, type: "https://unkey.com/docs/errors/unkey/data/role_already_exists" });
      expect((await h.post("/v2/permissions.getPermission", { permission: s })).status).toBe(404);
      expect(await getRole(h, name)).toEqual({ id: first.body.data.roleId, name, description: "first", permissions: [] });
    });

    it("attaching permissions needs add_permission_to_role; creating missing ones needs create_permission too", async () => {
      const h = await Harness.init();
      const existing = unique("exists");
      await createPermission(h, existing);
      const roleOnly = await h.createRootKey(["rbac.*.create_role"]);
      const attach = await h.createRootKey(["rbac.*.create_role", "rbac.*.add_permission_to_role"]);
      const all = await h.createRootKey(["rbac.*.create_role", "rbac.*.add_permission_to_role", "rbac.*.create_permission"]);
      const forbidden = "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions";

      const noAttach = await h.post("/v2/permissions.createRole", { name: unique("a"), permissions: [existing] }, { key: roleOnly });
      expect(noAttach.status).toBe(403);
      expect(noAttach.body.error.type).toBe(forbidden);
      expect(noAttach.body.error.detail).toContain("rbac.*.add_permission_to_role");
      // An empty list attaches nothing and needs nothing more.
      expect((await h.post("/v2/permissions.createRole", { name: unique("b"), permissions: [] }, { key: roleOnly })).status).toBe(200);

      expect((await h.post("/v2/permissions.createRole", { name: unique("c"), permissions: [existing] }, { key: attach })).status).toBe(200);
      const missing = unique("missing");
      const refusedName = unique("d");
      const noCreate = await h.post("/v2/permissions.createRole", { name: refusedName, permissions: [existing, missing] }, { key: attach });
      expect(noCreate.status).toBe(403);
      expect(noCreate.body.error.detail).toContain("rbac.*.create_permission");
      // Refused before anything was written.
      expect((await h.post("/v2/permissions.getRole", { role: refusedName })).status).toBe(404);
      expect((await h.post("/v2/permissions.getPermission", { permission: missing })).status).toBe(404);

      expect((await h.post("/v2/permissions.createRole", { name: refusedName, permissions: [existing, missing] }, { key: all })).status).toBe(200);
      expect((await getRole(h, refusedName)).permissions.map((p: { slug: string }) => p.slug).sort()).toEqual([existing, missing].sort());
    });

    it("400 for bad names, descriptions and permission lists, and unknown fields", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{}, "body.name"],
        [{ name: "" }, "body.name"],
        [{ name: "r".repeat(129) }, "body.name"],
        [{ name: 7 }, "body.name"],
        [{ name: "ok", description: "d".repeat(513) }, "body.description"],
        [{ name: "ok", permissions: "a.b" }, "body.permissions"],
        [{ name: "ok", permissions: [""] }, "body.permissions[0]"],
        [{ name: "ok", permissions: ["a.b", "has space"] }, "body.permissions[1]"],
        [{ name: "ok", permissions: ["s".repeat(129)] }, "body.permissions[0]"],
        [{ name: "ok", permissions: Array.from({ length: 1001 }, (_, i) => `p${i}`) }, "body.permissions"],
        [{ name: "ok", roleId: "x" }, "body.roleId"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.createRole", body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      expect((await h.post("/v2/permissions.getRole", { role: "ok" })).status).toBe(404);
    });
  });

  describeSecurity({
    operation: "permissions.createRole",
    setup: async () => ({ body: { name: unique("sec") } }),
    grant: () => ["rbac.*.create_role"],
  });
});
