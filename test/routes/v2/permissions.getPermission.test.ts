import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { PermissionsGetPermissionResponse } from "../../../src/routes/v2/permissions.getPermission";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function slug(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createPermission(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

const MISSING = "perm_doesNotExist000000000";

describe("permissions.getPermission", () => {
  describe("happy", () => {
    it("finds a permission by id and by slug", async () => {
      const h = await Harness.init();
      const s = slug("documents");
      const id = await createPermission(h, { name: "Docs", slug: s, description: "read docs" });
      const expected = { id, name: "Docs", slug: s, description: "read docs" };
      for (const permission of [id, s]) {
        const res = await h.post<PermissionsGetPermissionResponse>("/v2/permissions.getPermission", { permission });
        expect(res.status, permission).toBe(200);
        expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: expected });
      }
    });

    it("omits an absent description rather than sending null", async () => {
      const h = await Harness.init();
      const s = slug("bare");
      const id = await createPermission(h, { name: "Bare", slug: s });
      const res = await h.post("/v2/permissions.getPermission", { permission: s });
      expect(res.body.data).toEqual({ id, name: "Bare", slug: s });
      expect(JSON.stringify(res.body)).not.toContain("null");
    });

    it("an id wins over another permission whose slug equals that id", async () => {
      const h = await Harness.init();
      const first = await createPermission(h, { name: "first", slug: slug("first") });
      const second = await createPermission(h, { name: "second", slug: first });
      expect((await h.post("/v2/permissions.getPermission", { permission: first })).body.data.id).toBe(first);
      expect((await h.post("/v2/permissions.getPermission", { permission: second })).body.data.id).toBe(second);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const s = slug("sdk");
      const id = await createPermission(h, { name: "SDK", slug: s });
      const res = await h.sdk().permissions.getPermission({ permission: s });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({ id, name: "SDK", slug: s });
      await expect(h.sdk().permissions.getPermission({ permission: MISSING })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("404 permission_not_found for a missing or deleted permission", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/permissions.getPermission", { permission: MISSING });
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({ status: 404, type: "https://unkey.com/docs/errors/unkey/data/permission_not_found" });
      const s = slug("gone");
      const id = await createPermission(h, { name: s, slug: s });
      expect((await h.post("/v2/permissions.deletePermission", { permission: id })).status).toBe(200);
      expect((await h.post("/v2/permissions.getPermission", { permission: id })).status).toBe(404);
      expect((await h.post("/v2/permissions.getPermission", { permission: s })).status).toBe(404);
    });

    it("slugs match exactly: no case folding, no wildcards", async () => {
      const h = await Harness.init();
      const s = slug("exact");
      await createPermission(h, { name: s, slug: s });
      for (const permission of [s.toUpperCase(), `${s.split(".")[0]}.*`, `${s}x`, "%"]) {
        expect((await h.post("/v2/permissions.getPermission", { permission })).status, permission).toBe(404);
      }
    });

    it("400 for a missing or empty selector, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{}, "body.permission"],
        [{ permission: "" }, "body.permission"],
        [{ permission: "x".repeat(256) }, "body.permission"],
        [{ permission: 5 }, "body.permission"],
        [{ permission: "a", slug: "a" }, "body.slug"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.getPermission", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });
  });

  describeSecurity({
    operation: "permissions.getPermission",
    setup: async (h) => {
      const s = slug("sec");
      return { body: { permission: await createPermission(h, { name: s, slug: s }) } };
    },
    grant: () => ["rbac.*.read_permission"],
    missing: () => ({ permission: MISSING }),
  });
});
