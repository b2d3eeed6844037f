import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { PermissionsGetRoleResponse } from "../../../src/routes/v2/permissions.getRole";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function unique(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function createRole(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

const MISSING = "role_doesNotExist000000000";

describe("permissions.getRole", () => {
  describe("happy", () => {
    it("finds a role by id and by name, with its permissions ordered by slug", async () => {
      const h = await Harness.init();
      const read = await createPermission(h, { name: "Read", slug: "docs.read", description: "reads docs" });
      const write = await createPermission(h, { name: "Write", slug: "docs.write" });
      const name = unique("editor");
      const roleId = await createRole(h, { name, description: "Edits docs", permissions: ["docs.write", "docs.read"] });
      const expected = {
        id: roleId,
        name,
        description: "Edits docs",
        permissions: [
          { id: read, name: "Read", slug: "docs.read", description: "reads docs" },
          { id: write, name: "Write", slug: "docs.write" },
        ],
      };
      for (const role of [roleId, name]) {
        const res = await h.post<PermissionsGetRoleResponse>("/v2/permissions.getRole", { role });
        expect(res.status, role).toBe(200);
        expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: expected });
      }
    });

    it("a role without permissions or description has permissions [] and no description", async () => {
      const h = await Harness.init();
      const name = unique("empty");
      const roleId = await createRole(h, { name });
      const res = await h.post("/v2/permissions.getRole", { role: name });
      expect(res.body.data).toEqual({ id: roleId, name, permissions: [] });
      expect(JSON.stringify(res.body)).not.toContain("null");
    });

    it("an id wins over another role whose name equals that id", async () => {
      const h = await Harness.init();
      const first = await createRole(h, { name: unique("first") });
      const second = await createRole(h, { name: first });
      expect((await h.post("/v2/permissions.getRole", { role: first })).body.data.id).toBe(first);
      expect((await h.post("/v2/permissions.getRole", { role: second })).body.data).toMatchObject({ id: second, name: first });
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const name = unique("sdk");
      const roleId = await createRole(h, { name, permissions: ["sdk.read"] });
      const res = await h.sdk().permissions.getRole({ role: roleId });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({ id: roleId, name, permissions: [{ id: expect.stringMatching(/^perm_/), name: "sdk.read", slug: "sdk.read" }] });
      await expect(h.sdk().permissions.getRole({ role: MISSING })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("404 role_not_found for a missing or deleted role; names match exactly", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/permissions.getRole", { role: MISSING });
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({ status: 404, type: "https://unkey.com/docs/errors/unkey/data/role_not_found" });
      const name = unique("Admin");
      const roleId = await createRole(h, { name });
      for (const role of [name.toLowerCase(), `${name} `, "%"]) expect((await h.post("/v2/permissions.getRole", { role })).status, role).toBe(404);
      expect((await h.post("/v2/permissions.deleteRole", { role: roleId })).status).toBe(200);
      expect((await h.post("/v2/permissions.getRole", { role: roleId })).status).toBe(404);
      expect((await h.post("/v2/permissions.getRole", { role: name })).status).toBe(404);
    });

    it("400 for a missing or empty selector, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{}, "body.role"],
        [{ role: "" }, "body.role"],
        [{ role: "r".repeat(256) }, "body.role"],
        [{ role: ["a"] }, "body.role"],
        [{ role: "a", roleId: "a" }, "body.roleId"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.getRole", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });
  });

  describeSecurity({
    operation: "permissions.getRole",
    setup: async (h) => ({ body: { role: await createRole(h, { name: unique("sec"), permissions: ["sec.read"] }) } }),
    grant: () => ["rbac.*.read_role"],
    missing: () => ({ role: MISSING }),
  });
});
